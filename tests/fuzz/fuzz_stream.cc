// libFuzzer harness: what `distillgate proxy` reads of a streamed answer —
// server-sent events split at arbitrary points (the first byte of the input
// picks the piece size) and each event's data, as JSON, added up by the
// stream assemblers of both endpoints. Whatever the upstream sends must be
// an error or an answer, never a crash; the events' raw bytes must be
// exactly the bytes consumed, in order, whatever the cuts.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "core/canonical_json.h"
#include "transcripts/stream.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = 1 + data[0] % 64;
  const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  dg::SseSplitter splitter;
  dg::StreamAssembler chat(dg::StreamAssembler::Kind::kChat), completion(dg::StreamAssembler::Kind::kCompletion);
  std::string raws;
  for (size_t at = 0; at < bytes.size(); at += piece) {
    dg::Status st = splitter.Feed(std::string_view(bytes).substr(at, piece), [&](std::string_view raw, const std::string& d) {
      raws.append(raw.data(), raw.size());
      auto chunk = dg::ParseJsonStrict(d, "event");
      if (chunk.ok()) {
        chat.Add(*chunk).IgnoreError();
        completion.Add(*chunk).IgnoreError();
      }
      return dg::Status::Ok();
    });
    if (!st.ok()) std::abort();  // the callback never fails, so neither may Feed
  }
  if (raws + splitter.pending() != bytes) std::abort();
  for (const dg::StreamAssembler* a : {&chat, &completion}) {
    auto done = a->Finish();
    if (done.ok() && (!done->is_object() || !(*done)["choices"].is_array() || (*done)["choices"].empty())) std::abort();
  }
  return 0;
}
