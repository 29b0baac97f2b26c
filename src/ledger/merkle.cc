#include "ledger/merkle.h"

#include <cstring>
#include <string>

namespace dg {
namespace {

int BitLen(uint64_t x) { return x == 0 ? 0 : 64 - __builtin_clzll(x); }
int PopCount(uint64_t x) { return __builtin_popcountll(x); }
int TrailingZeros(uint64_t x) { return x == 0 ? 64 : __builtin_ctzll(x); }
uint64_t LargestPowerOfTwoBelow(uint64_t n) {  // n >= 2
  return uint64_t{1} << (BitLen(n - 1) - 1);
}
bool IsPowerOfTwo(uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }
// x >> n for any n: C++ leaves a shift by 64 or more undefined, and trees of
// 2^63 leaves and more reach it (BitLen() is 64 there).
uint64_t ShiftRight(uint64_t x, int n) { return n >= 64 ? 0 : x >> n; }

Hash ChainInner(Hash seed, const std::vector<Hash>& proof, size_t from, size_t to, uint64_t index) {
  for (size_t i = from; i < to; ++i) {
    if ((ShiftRight(index, static_cast<int>(i - from)) & 1) == 0) seed = NodeHash(seed, proof[i]);
    else seed = NodeHash(proof[i], seed);
  }
  return seed;
}

Hash ChainInnerRight(Hash seed, const std::vector<Hash>& proof, size_t from, size_t to, uint64_t index) {
  for (size_t i = from; i < to; ++i) {
    if ((ShiftRight(index, static_cast<int>(i - from)) & 1) == 1) seed = NodeHash(proof[i], seed);
  }
  return seed;
}

Hash ChainBorderRight(Hash seed, const std::vector<Hash>& proof, size_t from, size_t to) {
  for (size_t i = from; i < to; ++i) seed = NodeHash(proof[i], seed);
  return seed;
}

Status Mismatch(const char* what) { return Status::VerifyFailed(std::string(what) + " does not match"); }

}  // namespace

// Both hashes go through core's reused EVP context with a pre-fetched
// SHA-256: OpenSSL 3's one-shot SHA256() fetches the algorithm on every
// call and costs about three times as much for a 65-byte node.
Hash LeafHash(std::string_view entry) {
  static const char kZero = 0x00;
  return Sha256(std::string_view(&kZero, 1), entry);
}

Hash NodeHash(const Hash& left, const Hash& right) {
  char buf[65];
  buf[0] = 0x01;
  std::memcpy(buf + 1, left.data(), 32);
  std::memcpy(buf + 33, right.data(), 32);
  return Sha256(std::string_view(buf, sizeof buf));
}

Hash EmptyRootHash() { return Sha256(std::string_view()); }

StatusOr<Hash> RootFromInclusionProof(uint64_t index, uint64_t size, const Hash& leaf_hash,
                                      const std::vector<Hash>& proof) {
  if (index >= size) {
    return Status::VerifyFailed("leaf index " + std::to_string(index) + " is not below tree size " +
                                std::to_string(size));
  }
  const int inner = BitLen(index ^ (size - 1));
  const int border = PopCount(ShiftRight(index, inner));
  if (proof.size() != static_cast<size_t>(inner + border)) {
    return Status::VerifyFailed("inclusion proof has " + std::to_string(proof.size()) + " hashes, expected " +
                                std::to_string(inner + border));
  }
  Hash r = ChainInner(leaf_hash, proof, 0, static_cast<size_t>(inner), index);
  return ChainBorderRight(r, proof, static_cast<size_t>(inner), proof.size());
}

Status VerifyInclusion(uint64_t index, uint64_t size, const Hash& leaf_hash, const std::vector<Hash>& proof,
                       const Hash& root) {
  DG_ASSIGN_OR_RETURN(Hash calc, RootFromInclusionProof(index, size, leaf_hash, proof));
  if (calc != root) return Mismatch("root computed from the inclusion proof");
  return Status::Ok();
}

Status VerifyConsistency(uint64_t size1, uint64_t size2, const std::vector<Hash>& proof, const Hash& root1,
                         const Hash& root2) {
  if (size2 < size1) {
    return Status::VerifyFailed("old size " + std::to_string(size1) + " exceeds new size " + std::to_string(size2));
  }
  if (size1 == size2) {
    if (!proof.empty()) return Status::VerifyFailed("sizes are equal but the consistency proof is not empty");
    if (root1 != root2) return Mismatch("roots of two trees of equal size");
    if (size1 == 0 && root1 != EmptyRootHash()) return Mismatch("root of the empty tree");
    return Status::Ok();
  }
  if (size1 == 0) return Status::VerifyFailed("a consistency proof from the empty tree is meaningless");
  if (proof.empty()) return Status::VerifyFailed("consistency proof is empty");

  int inner = BitLen((size1 - 1) ^ (size2 - 1));
  const int border = PopCount(ShiftRight(size1 - 1, inner));
  const int shift = TrailingZeros(size1);
  inner -= shift;
  Hash seed = proof[0];
  size_t start = 1;
  if (size1 == (uint64_t{1} << shift)) {
    seed = root1;
    start = 0;
  }
  if (proof.size() != start + static_cast<size_t>(inner + border)) {
    return Status::VerifyFailed("consistency proof has " + std::to_string(proof.size()) + " hashes, expected " +
                                std::to_string(start + static_cast<size_t>(inner + border)));
  }
  const uint64_t mask = (size1 - 1) >> shift;
  const size_t mid = start + static_cast<size_t>(inner);
  Hash h1 = ChainInnerRight(seed, proof, start, mid, mask);
  h1 = ChainBorderRight(h1, proof, mid, proof.size());
  if (h1 != root1) return Mismatch("old root computed from the consistency proof");
  Hash h2 = ChainInner(seed, proof, start, mid, mask);
  h2 = ChainBorderRight(h2, proof, mid, proof.size());
  if (h2 != root2) return Mismatch("new root computed from the consistency proof");
  return Status::Ok();
}

StatusOr<Hash> SubtreeHash(uint64_t begin, uint64_t end, const SubtreeReader& read) {
  const uint64_t n = end - begin;
  if (n == 0) return EmptyRootHash();
  if (IsPowerOfTwo(n) && begin % n == 0) return read(TrailingZeros(n), begin / n);
  const uint64_t k = LargestPowerOfTwoBelow(n);
  DG_ASSIGN_OR_RETURN(Hash left, SubtreeHash(begin, begin + k, read));
  DG_ASSIGN_OR_RETURN(Hash right, SubtreeHash(begin + k, end, read));
  return NodeHash(left, right);
}

StatusOr<Hash> RootHash(uint64_t size, const SubtreeReader& read) { return SubtreeHash(0, size, read); }

StatusOr<std::vector<Hash>> InclusionProof(uint64_t index, uint64_t size, const SubtreeReader& read) {
  if (index >= size) {
    return Status::InvalidInput("leaf index " + std::to_string(index) + " is not below tree size " +
                                std::to_string(size));
  }
  std::vector<Hash> path;
  uint64_t begin = 0, end = size;
  // Walk down from the root, collecting the sibling of each step; the
  // RFC lists them leaf-side first, so reverse at the end.
  while (end - begin > 1) {
    const uint64_t k = LargestPowerOfTwoBelow(end - begin);
    if (index < begin + k) {
      DG_ASSIGN_OR_RETURN(Hash sib, SubtreeHash(begin + k, end, read));
      path.push_back(sib);
      end = begin + k;
    } else {
      DG_ASSIGN_OR_RETURN(Hash sib, SubtreeHash(begin, begin + k, read));
      path.push_back(sib);
      begin += k;
    }
  }
  return std::vector<Hash>(path.rbegin(), path.rend());
}

StatusOr<std::vector<Hash>> ConsistencyProof(uint64_t size1, uint64_t size2, const SubtreeReader& read) {
  if (size1 > size2) {
    return Status::InvalidInput("old size " + std::to_string(size1) + " exceeds new size " + std::to_string(size2));
  }
  std::vector<Hash> proof;
  if (size1 == 0 || size1 == size2) return proof;
  // SUBPROOF(m, D[begin:end], b), iteratively; siblings collected root-side first.
  uint64_t m = size1, begin = 0, end = size2;
  bool complete = true;
  while (m != end - begin) {
    const uint64_t n = end - begin;
    const uint64_t k = LargestPowerOfTwoBelow(n);
    if (m <= k) {
      DG_ASSIGN_OR_RETURN(Hash sib, SubtreeHash(begin + k, end, read));
      proof.push_back(sib);
      end = begin + k;
    } else {
      DG_ASSIGN_OR_RETURN(Hash sib, SubtreeHash(begin, begin + k, read));
      proof.push_back(sib);
      m -= k;
      begin += k;
      complete = false;
    }
  }
  if (!complete) {
    DG_ASSIGN_OR_RETURN(Hash h, SubtreeHash(begin, end, read));
    proof.push_back(h);
  }
  return std::vector<Hash>(proof.rbegin(), proof.rend());
}

StatusOr<CompactRange> CompactRange::FromStorage(uint64_t size, const SubtreeReader& read) {
  CompactRange r;
  uint64_t begin = 0;
  for (int level = 63; level >= 0; --level) {
    if ((size >> level) & 1) {
      DG_ASSIGN_OR_RETURN(Hash h, read(level, begin >> level));
      r.hashes_.push_back(h);
      begin += uint64_t{1} << level;
    }
  }
  r.size_ = size;
  return r;
}

void CompactRange::Append(const Hash& leaf_hash, const NodeSink& sink) {
  Hash cur = leaf_hash;
  uint64_t i = size_;
  int level = 0;
  while (i & 1) {
    cur = NodeHash(hashes_.back(), cur);
    hashes_.pop_back();
    i >>= 1;
    ++level;
    if (sink) sink(level, i, cur);
  }
  hashes_.push_back(cur);
  ++size_;
}

Hash CompactRange::Root() const {
  if (hashes_.empty()) return EmptyRootHash();
  Hash r = hashes_.back();
  for (size_t j = hashes_.size() - 1; j-- > 0;) r = NodeHash(hashes_[j], r);
  return r;
}

}  // namespace dg
