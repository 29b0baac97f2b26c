// libFuzzer harness: a safetensors file's bytes as distillgate reads them
// (the 8-byte length, then the header, validated against the file's size),
// and a shard index checked against the header. Whatever a model file holds
// must be an error naming it or a header whose tensors tile the file, never
// a crash; an accepted header must re-encode to one that parses the same.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  auto n = dg::SafetensorsHeaderLength(bytes.substr(0, 8), bytes.size(), "f.safetensors");
  if (n.ok()) {
    auto h = dg::ParseSafetensorsHeader(std::string_view(bytes).substr(8, *n), bytes.size(), "f.safetensors");
    if (h.ok()) {
      uint64_t at = 0;
      for (const dg::SafetensorsTensor& t : h->tensors) {
        if (t.begin != at || t.end < t.begin) std::abort();  // accepted, but does not tile
        at = t.end;
      }
      if (8 + *n + at != bytes.size()) std::abort();
      const std::string again = dg::EncodeSafetensorsHeader(h->tensors, h->metadata);
      auto n2 = dg::SafetensorsHeaderLength(again.substr(0, 8), again.size() + at, "again");
      if (!n2.ok()) std::abort();
      auto h2 = dg::ParseSafetensorsHeader(std::string_view(again).substr(8), again.size() + at, "again");
      if (!h2.ok() || h2->tensors.size() != h->tensors.size()) std::abort();
      std::map<std::string, const dg::SafetensorsHeader*> shards = {{"f.safetensors", &*h}};
      dg::SafetensorsIndex idx;
      for (const dg::SafetensorsTensor& t : h->tensors) idx.weight_map[t.name] = "f.safetensors";
      idx.has_total_size = true;
      idx.total_size = at;
      if (!dg::CheckSafetensorsIndex(idx, "i.json", "", shards).ok()) std::abort();
    }
  }
  auto idx = dg::ParseSafetensorsIndex(bytes, "model.safetensors.index.json");
  (void)idx;
  return 0;
}
