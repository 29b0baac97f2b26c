// Probe sets for attribution (docs/attribution.md): text prompts drawn from
// a seed, fixed and hashed before any model is queried (pre-registration).
//
//   data    windows of `length` bytes of a probe corpus (near the data the
//           models were trained on), at positions drawn from the seed;
//   random  the random-probe baseline: `length` bytes drawn uniformly from
//           the corpus's own byte alphabet.
//
// The draws use SplitMix64 (one 64-bit state, specified here and in the doc)
// so that the same seed gives the same probes on every platform and build.
//
// Errors: InvalidInput for a corpus shorter than `length` or not printable
// ASCII (tab and newline allowed), n = 0, length = 0, a seed above 2^53. Thread safety: reentrant.
#ifndef DISTILLGATE_ATTRIBUTE_PROBES_H_
#define DISTILLGATE_ATTRIBUTE_PROBES_H_

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace dg::attribute {

enum class ProbeKind { kData, kRandom };
const char* ProbeKindName(ProbeKind k);  // data | random

struct ProbeSet {
  ProbeKind kind = ProbeKind::kData;
  uint64_t seed = 0;
  std::string source_sha256;          // hex SHA-256 of the corpus the probes came from
  std::vector<std::string> probes;
  // {"format": "distillgate-probes-v1", "kind", "seed", "source_sha256", "probes": [...]}
  nlohmann::json ToJson() const;
  // Hex SHA-256 of ToJson()'s RFC 8785 form: what a run pre-registers.
  StatusOr<std::string> Sha256() const;
};

// One step of SplitMix64: advances `state` and returns the next output.
uint64_t SplitMix64(uint64_t* state);

StatusOr<ProbeSet> MakeProbes(const std::string& corpus, ProbeKind kind, size_t n, size_t length, uint64_t seed);

}  // namespace dg::attribute

#endif  // DISTILLGATE_ATTRIBUTE_PROBES_H_
