// libFuzzer harness: RFC 6962 proof arithmetic. Sizes and indices anywhere
// in 0..2^64-1 (UBSan: no shift by 64 or more), proofs of any length; and a
// differential check on a small tree built from the input: every inclusion
// and consistency proof it makes verifies, and a flipped bit does not.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/hash.h"
#include "ledger/merkle.h"

namespace {

uint64_t Take64(const uint8_t*& p, const uint8_t* end) {
  uint64_t v = 0;
  for (int i = 0; i < 8 && p < end; ++i) v = (v << 8) | *p++;
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint8_t* p = data;
  const uint8_t* end = data + size;
  const uint64_t a = Take64(p, end), b = Take64(p, end);
  std::vector<dg::Hash> proof;
  while (end - p >= 32 && proof.size() < 130) {
    dg::Hash h;
    std::memcpy(h.data(), p, 32);
    p += 32;
    proof.push_back(h);
  }
  const dg::Hash leaf = dg::Sha256("leaf"), root = dg::Sha256("root");
  (void)dg::VerifyInclusion(a, b, leaf, proof, root);
  (void)dg::RootFromInclusionProof(a, b, leaf, proof);
  (void)dg::VerifyConsistency(a, b, proof, root, leaf);
  (void)dg::VerifyConsistency(a & 0xff, b & 0xff, proof, root, leaf);

  // A tree of n leaves (n from the input, at most 300) in memory.
  const uint64_t n = 1 + (a % 300);
  std::vector<dg::Hash> leaves;
  for (uint64_t i = 0; i < n; ++i) leaves.push_back(dg::LeafHash(std::string(1, static_cast<char>(i)) + std::to_string(b ^ i)));
  auto read = [&leaves](int level, uint64_t index) -> dg::StatusOr<dg::Hash> {
    const uint64_t first = index << level, count = uint64_t{1} << level;
    dg::CompactRange r;
    for (uint64_t i = first; i < first + count && i < leaves.size(); ++i) r.Append(leaves[i], nullptr);
    return r.Root();
  };
  auto full_root = dg::RootHash(n, read);
  if (!full_root.ok()) std::abort();
  const uint64_t i = b % n;
  auto inc = dg::InclusionProof(i, n, read);
  if (!inc.ok() || !dg::VerifyInclusion(i, n, leaves[i], *inc, *full_root).ok()) std::abort();
  if (!inc->empty()) {
    std::vector<dg::Hash> bad = *inc;
    bad[(b >> 8) % bad.size()][(b >> 16) % 32] ^= static_cast<uint8_t>(1 + (b >> 24) % 255);
    if (dg::VerifyInclusion(i, n, leaves[i], bad, *full_root).ok()) std::abort();
  }
  const uint64_t m = 1 + (b % n);
  auto old_root = dg::RootHash(m, read);
  auto cons = dg::ConsistencyProof(m, n, read);
  if (!old_root.ok() || !cons.ok() || !dg::VerifyConsistency(m, n, *cons, *old_root, *full_root).ok()) std::abort();
  return 0;
}
