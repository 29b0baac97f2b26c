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
  bool images = false;                // image probes: each probe is base64 of 28×28 bytes
  uint64_t seed = 0;
  std::string source_sha256;          // hex SHA-256 of the corpus the probes came from
  std::vector<std::string> probes;
  // {"format": "distillgate-probes-v1", "kind", "seed", "source_sha256", "probes": [...]}, and
  // "modality": "image" for image probes (text probe sets have no modality member)
  nlohmann::json ToJson() const;
  // Hex SHA-256 of ToJson()'s RFC 8785 form: what a run pre-registers.
  StatusOr<std::string> Sha256() const;
};

// One step of SplitMix64: advances `state` and returns the next output.
uint64_t SplitMix64(uint64_t* state);

StatusOr<ProbeSet> MakeProbes(const std::string& corpus, ProbeKind kind, size_t n, size_t length, uint64_t seed);

// Image probes for image classifiers, from N 28×28 greyscale images
// (`pixels`, N×784 bytes, row-major):
//   data    mixup (near the data manifold): images a and b drawn from the
//           seed, λ = 0.25 + 0.5·u (u the next draw's top 53 bits / 2^53),
//           pixel = round(λ·a + (1−λ)·b) (half away from zero);
//   random  the baseline: every pixel uniform in 0..255 (one draw per pixel,
//           its low byte).
// Draws, in order: for data, a's index, b's index, u per probe (indices by
// the same rejection rule as text windows). source_sha256 is the SHA-256 of
// `pixels`. InvalidInput for fewer than 2 images or bytes that are not whole images.
StatusOr<ProbeSet> MakeImageProbes(const std::string& pixels, ProbeKind kind, size_t n, uint64_t seed);

// A probe corpus as `--probe-data` names it: a text file, or a directory
// holding an IDX image file (t10k-images-idx3-ubyte[.gz], else
// train-images-idx3-ubyte[.gz]) of 28×28 images.
struct ProbeCorpus {
  bool images = false;
  std::string data;  // the text, or the images' pixels (N×784 bytes)
  StatusOr<ProbeSet> Make(ProbeKind kind, size_t n, size_t length, uint64_t seed) const {
    return images ? MakeImageProbes(data, kind, n, seed) : MakeProbes(data, kind, n, length, seed);
  }
};
StatusOr<ProbeCorpus> LoadProbeCorpus(const std::string& path);

}  // namespace dg::attribute

#endif  // DISTILLGATE_ATTRIBUTE_PROBES_H_
