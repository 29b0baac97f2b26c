#include "attribute/probes.h"

#include <sys/stat.h>

#include <cmath>
#include <set>

#include "core/canonical_json.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "record/idx.h"

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
  nlohmann::json j = {{"format", "distillgate-probes-v1"}, {"kind", ProbeKindName(kind)}, {"seed", seed},
                      {"source_sha256", source_sha256}, {"probes", probes}};
  if (images) j["modality"] = "image";
  return j;
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

namespace dg::attribute {

StatusOr<ProbeSet> MakeImageProbes(const std::string& pixels, ProbeKind kind, size_t n, uint64_t seed) {
  constexpr size_t kImage = 28 * 28;
  if (n == 0) return Status::InvalidInput("--probes: expected at least 1 probe");
  if (pixels.size() % kImage != 0 || pixels.size() < 2 * kImage) {
    return Status::InvalidInput("image probes need at least 2 whole 28×28 images; got " + std::to_string(pixels.size()) + " bytes");
  }
  if (seed > (uint64_t{1} << 53)) return Status::InvalidInput("--seed: expected at most 2^53 (it is recorded as a JSON number)");
  ProbeSet set;
  set.kind = kind;
  set.seed = seed;
  set.images = true;
  set.source_sha256 = HexEncode(dg::Sha256(pixels));
  const uint64_t count = pixels.size() / kImage;
  uint64_t state = seed;
  std::string p(kImage, '\0');
  for (size_t i = 0; i < n; ++i) {
    if (kind == ProbeKind::kData) {
      const size_t a = Below(count, &state) * kImage, b = Below(count, &state) * kImage;
      const double lambda = 0.25 + 0.5 * static_cast<double>(SplitMix64(&state) >> 11) / 9007199254740992.0;
      for (size_t k = 0; k < kImage; ++k) {
        const double v = lambda * static_cast<unsigned char>(pixels[a + k]) + (1 - lambda) * static_cast<unsigned char>(pixels[b + k]);
        p[k] = static_cast<char>(static_cast<unsigned char>(std::lround(v)));
      }
    } else {
      for (char& c : p) c = static_cast<char>(SplitMix64(&state) & 0xff);
    }
    set.probes.push_back(Base64Encode(p));
  }
  return set;
}

StatusOr<ProbeCorpus> LoadProbeCorpus(const std::string& path) {
  ProbeCorpus c;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status::InvalidInput("--probe-data: " + path + ": no such file or directory");
  if (!S_ISDIR(st.st_mode)) {
    DG_ASSIGN_OR_RETURN(c.data, ReadFile(path));
    return c;
  }
  c.images = true;
  for (const char* prefix : {"t10k", "train"}) {
    for (const char* ext : {"", ".gz"}) {
      const std::string f = path + "/" + prefix + "-images-idx3-ubyte" + ext;
      if (!FileExists(f)) continue;
      DG_ASSIGN_OR_RETURN(IdxArray a, ReadIdx(f));
      if (a.dims.size() != 3 || a.dims[1] != 28 || a.dims[2] != 28) return Status::InvalidInput(f + ": expected N×28×28 images");
      c.data.assign(a.data.begin(), a.data.end());
      return c;
    }
  }
  return Status::InvalidInput("--probe-data: the directory " + path +
                              " holds no t10k-images-idx3-ubyte[.gz] or train-images-idx3-ubyte[.gz] image file");
}

}  // namespace dg::attribute
