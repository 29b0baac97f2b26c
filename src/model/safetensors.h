// safetensors headers (huggingface/safetensors, format as its README states):
// an 8-byte little-endian header length N, N bytes of JSON (an object naming
// each tensor's dtype, shape and [begin, end) data offsets, plus an optional
// "__metadata__" map of strings), then the data buffer. A valid header's
// tensors tile the data buffer exactly: sorted by offset, each begins where
// the previous ended, each spans exactly elements × dtype bits / 8 bytes, and
// the last ends at the end of the file.
//
// Also the Hugging Face shard index (`model.safetensors.index.json`): a
// `weight_map` from tensor name to shard file and `metadata.total_size`.
//
// Pure functions of their arguments (no I/O); safe on any thread. Errors are
// InvalidInput and name `where` (the file) and what is wrong.
#ifndef DISTILLGATE_MODEL_SAFETENSORS_H_
#define DISTILLGATE_MODEL_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/status.h"

namespace dg {

// The largest header accepted, as the reference implementation (100 MB).
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

struct SafetensorsTensor {
  std::string name, dtype;
  std::vector<uint64_t> shape;
  uint64_t begin = 0, end = 0;  // offsets into the data buffer
};

struct SafetensorsHeader {
  uint64_t header_bytes = 0;                  // N
  std::vector<SafetensorsTensor> tensors;     // in data-offset order
  std::map<std::string, std::string> metadata;  // "__metadata__"
  uint64_t data_bytes() const { return tensors.empty() ? 0 : tensors.back().end; }
  // {"header_bytes", "metadata", "tensors": [{"name","dtype","shape","data_offsets"}]}
  nlohmann::json ToJson() const;
};

// Bits per element of a safetensors dtype ("F32" → 32, "F4" → 4); 0 when
// the name is not a dtype the format defines.
int SafetensorsDtypeBits(std::string_view dtype);

// The header length from the first 8 bytes; InvalidInput when the file is
// shorter than 8 bytes, or N exceeds the limit or the file.
StatusOr<uint64_t> SafetensorsHeaderLength(std::string_view first8, uint64_t file_size, const std::string& where);

// Parses and validates the N header bytes of a file of `file_size` bytes.
StatusOr<SafetensorsHeader> ParseSafetensorsHeader(std::string_view header_json, uint64_t file_size,
                                                   const std::string& where);

// The bytes that precede the data buffer for `tensors` (their offsets as
// given): the 8-byte length and the JSON header, padded with spaces to a
// multiple of 8 as the reference writer does. For writers and tests.
std::string EncodeSafetensorsHeader(const std::vector<SafetensorsTensor>& tensors,
                                    const std::map<std::string, std::string>& metadata = {});

// A parsed shard index.
struct SafetensorsIndex {
  std::map<std::string, std::string> weight_map;  // tensor → shard (relative POSIX path)
  bool has_total_size = false;
  uint64_t total_size = 0;
};
StatusOr<SafetensorsIndex> ParseSafetensorsIndex(std::string_view text, const std::string& where);

// Checks an index (in directory `index_dir`, relative POSIX, "" for the
// root) against the shards' parsed headers, keyed by relative POSIX path:
// every listed shard is present, every mapped tensor is in its shard, every
// tensor of a listed shard is mapped to it, and total_size (when present) is
// the sum of the mapped tensors' bytes.
Status CheckSafetensorsIndex(const SafetensorsIndex& index, const std::string& index_path, const std::string& index_dir,
                             const std::map<std::string, const SafetensorsHeader*>& shards);

}  // namespace dg

#endif  // DISTILLGATE_MODEL_SAFETENSORS_H_
