// RFC 6962 / RFC 9162 Merkle tree hashing, proof construction and
// verification. Pure functions: no storage, no I/O.
//
//   leaf hash = SHA-256(0x00 || entry bytes)
//   node hash = SHA-256(0x01 || left || right)
//   MTH({})   = SHA-256("")
//
// A "complete subtree" (level L, index i) is the subtree whose leaves are
// [i·2^L, (i+1)·2^L); level 0 holds leaf hashes. Storage supplies those
// through a SubtreeReader, which is all that proof construction needs.
//
// Verification returns VerifyFailed (never InvalidInput) for any proof that
// does not hold, including sizes or indices out of range; construction
// returns the reader's error, and InvalidInput for indices out of range.
// All functions are safe on any thread; a CompactRange is a value used by
// one thread at a time.
#ifndef DISTILLGATE_LEDGER_MERKLE_H_
#define DISTILLGATE_LEDGER_MERKLE_H_

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "core/hash.h"
#include "core/status.h"

namespace dg {

Hash LeafHash(std::string_view entry);
Hash NodeHash(const Hash& left, const Hash& right);
Hash EmptyRootHash();

// Inclusion (RFC 9162 §2.1.3.2). OK only if `proof` proves `leaf_hash` sits
// at `index` in the tree of `size` leaves whose root is `root`. A proof of
// the wrong length (padded or truncated) is rejected.
Status VerifyInclusion(uint64_t index, uint64_t size, const Hash& leaf_hash, const std::vector<Hash>& proof,
                       const Hash& root);
// The root that `proof` implies, for callers that compare it themselves.
StatusOr<Hash> RootFromInclusionProof(uint64_t index, uint64_t size, const Hash& leaf_hash,
                                      const std::vector<Hash>& proof);

// Consistency (RFC 9162 §2.1.4.2): the tree of size1 with root1 is a prefix of
// the tree of size2 with root2. As transparency-dev/merkle does, a proof from
// size1 = 0 to a larger tree is rejected as meaningless; equal sizes need an
// empty proof and equal roots (and the empty tree has the root SHA-256("")).
Status VerifyConsistency(uint64_t size1, uint64_t size2, const std::vector<Hash>& proof, const Hash& root1,
                         const Hash& root2);

// Reads the hash of the complete subtree (level, index) from storage.
using SubtreeReader = std::function<StatusOr<Hash>(int level, uint64_t index)>;

// MTH of leaves [begin, end), built from complete subtrees (O(log n) reads).
StatusOr<Hash> SubtreeHash(uint64_t begin, uint64_t end, const SubtreeReader& read);
StatusOr<Hash> RootHash(uint64_t size, const SubtreeReader& read);
// RFC 9162 §2.1.3.1 PATH(index, D[size]).
StatusOr<std::vector<Hash>> InclusionProof(uint64_t index, uint64_t size, const SubtreeReader& read);
// RFC 9162 §2.1.4.1 PROOF(size1, D[size2]); empty when size1 == size2 or size1 == 0.
StatusOr<std::vector<Hash>> ConsistencyProof(uint64_t size1, uint64_t size2, const SubtreeReader& read);

// An append-only accumulator holding one hash per set bit of its size (the
// roots of the maximal complete subtrees, left to right), as in
// transparency-dev/merkle's compact ranges.
class CompactRange {
 public:
  CompactRange() = default;
  // Rebuilds the range of a tree of `size` leaves from stored subtrees.
  static StatusOr<CompactRange> FromStorage(uint64_t size, const SubtreeReader& read);

  // Called for each complete subtree of level >= 1 that an append completes.
  using NodeSink = std::function<void(int level, uint64_t index, const Hash& hash)>;
  void Append(const Hash& leaf_hash, const NodeSink& sink);
  Hash Root() const;
  uint64_t size() const { return size_; }

 private:
  std::vector<Hash> hashes_;  // decreasing subtree size
  uint64_t size_ = 0;
};

}  // namespace dg

#endif  // DISTILLGATE_LEDGER_MERKLE_H_
