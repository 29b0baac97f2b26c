// libFuzzer harness: the transcript reader (`transcripts record` and
// `verify`) on an arbitrary file in the exchanges format, every line
// checked against the chat-completion schemas and turned into a teacher-call
// entry: malformed lines must be reported as problems, never crash.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "transcripts/reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = [] {
    char tmpl[] = "/tmp/dg-fuzz-transcript-XXXXXX";
    const int fd = ::mkstemp(tmpl);
    if (fd >= 0) ::close(fd);
    return std::string(tmpl);
  }();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  dg::TranscriptSource src{"t", "exchanges", path, ""};
  uint64_t exchanges = 0, problems = 0;
  auto st = dg::ReadTranscript(
      src,
      [&](dg::TranscriptItem& it) -> dg::Status {
        if (it.kind == dg::TranscriptItem::Kind::kProblem) ++problems;
        else ++exchanges;
        return dg::Status::Ok();
      },
      dg::TranscriptReadOptions());
  (void)st;
  return 0;
}
