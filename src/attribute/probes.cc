#include "attribute/probes.h"

#include <set>

#include "core/canonical_json.h"
#include "core/encoding.h"
#include "core/hash.h"

namespace dg::attribute {

const char* ProbeKindName(ProbeKind k) { return k == ProbeKind::kData ? "data" : "random"; }

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

namespace {

// A draw in [0, bound) without modulo bias (rejection of the top remainder).
uint64_t Below(uint64_t bound, uint64_t* state) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  uint64_t v;
  do v = SplitMix64(state);
  while (v >= limit);
  return v % bound;
}

}  // namespace

nlohmann::json ProbeSet::ToJson() const {
  return {{"format", "distillgate-probes-v1"}, {"kind", ProbeKindName(kind)}, {"seed", seed},
          {"source_sha256", source_sha256}, {"probes", probes}};
}

StatusOr<std::string> ProbeSet::Sha256() const {
  DG_ASSIGN_OR_RETURN(std::string canonical, Canonicalize(ToJson()));
  return HexEncode(dg::Sha256(canonical));
}

StatusOr<ProbeSet> MakeProbes(const std::string& corpus, ProbeKind kind, size_t n, size_t length, uint64_t seed) {
  if (n == 0) return Status::InvalidInput("--probes: expected at least 1 probe");
  if (length == 0) return Status::InvalidInput("probe length: expected at least 1 byte");
  if (corpus.size() < length) {
    return Status::InvalidInput("the probe corpus has " + std::to_string(corpus.size()) + " bytes, fewer than one probe of " +
                                std::to_string(length));
  }
  if (seed > (uint64_t{1} << 53)) return Status::InvalidInput("--seed: expected at most 2^53 (it is recorded as a JSON number)");
  // Probes travel in JSON and in chat requests: ASCII text only, so that no
  // window cuts a multi-byte character.
  for (size_t i = 0; i < corpus.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(corpus[i]);
    if (c >= 0x80 || (c < 0x20 && c != '\n' && c != '\t')) {
      return Status::InvalidInput("the probe corpus: byte " + std::to_string(i) + " (0x" + HexEncode(std::string_view(corpus).substr(i, 1)) +
                                  ") is not printable ASCII text");
    }
  }
  ProbeSet set;
  set.kind = kind;
  set.seed = seed;
  set.source_sha256 = HexEncode(dg::Sha256(corpus));
  uint64_t state = seed;
  if (kind == ProbeKind::kData) {
    const uint64_t positions = corpus.size() - length + 1;
    for (size_t i = 0; i < n; ++i) set.probes.push_back(corpus.substr(Below(positions, &state), length));
  } else {
    const std::set<char> alphabet_set(corpus.begin(), corpus.end());
    const std::string alphabet(alphabet_set.begin(), alphabet_set.end());
    for (size_t i = 0; i < n; ++i) {
      std::string p(length, '\0');
      for (char& c : p) c = alphabet[Below(alphabet.size(), &state)];
      set.probes.push_back(std::move(p));
    }
  }
  return set;
}

}  // namespace dg::attribute
