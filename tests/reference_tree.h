// A deliberately naive, recursive RFC 6962 tree written straight from the
// RFC's definitions (MTH, PATH, PROOF/SUBPROOF), used to cross-check the
// production code. It shares nothing with src/ledger but SHA-256. MTH values
// are memoised so that all-pairs checks stay fast.
#ifndef DISTILLGATE_TESTS_REFERENCE_TREE_H_
#define DISTILLGATE_TESTS_REFERENCE_TREE_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/hash.h"

namespace dg::testing {

class RefTree {
 public:
  explicit RefTree(std::vector<std::string> leaves) : d_(std::move(leaves)) {}
  static Hash Leaf(const std::string& d) { return Sha256(std::string(1, '\0') + d); }
  static Hash Node(const Hash& l, const Hash& r) {
    return Sha256(std::string(1, '\1') + std::string(AsBytes(l)) + std::string(AsBytes(r)));
  }
  Hash Mth(size_t b, size_t e) {
    if (e == b) return Sha256("");
    if (e - b == 1) return Leaf(d_[b]);
    auto it = memo_.find({b, e});
    if (it != memo_.end()) return it->second;
    size_t k = Split(e - b);
    return memo_[{b, e}] = Node(Mth(b, b + k), Mth(b + k, e));
  }
  std::vector<Hash> Path(size_t m, size_t b, size_t e) {  // PATH(m, D[b:e]), m relative to b
    if (e - b <= 1) return {};
    size_t k = Split(e - b);
    std::vector<Hash> p = m < k ? Path(m, b, b + k) : Path(m - k, b + k, e);
    p.push_back(m < k ? Mth(b + k, e) : Mth(b, b + k));
    return p;
  }
  std::vector<Hash> Subproof(size_t m, size_t b, size_t e, bool whole) {
    if (m == e - b) return whole ? std::vector<Hash>{} : std::vector<Hash>{Mth(b, e)};
    size_t k = Split(e - b);
    std::vector<Hash> p = m <= k ? Subproof(m, b, b + k, whole) : Subproof(m - k, b + k, e, false);
    p.push_back(m <= k ? Mth(b + k, e) : Mth(b, b + k));
    return p;
  }
  std::vector<Hash> Consistency(size_t m, size_t n) { return (m == 0 || m == n) ? std::vector<Hash>{} : Subproof(m, 0, n, true); }
  const std::vector<std::string>& leaves() const { return d_; }

 private:
  static size_t Split(size_t n) {  // largest power of two < n
    size_t k = 1;
    while (k * 2 < n) k *= 2;
    return k;
  }
  std::vector<std::string> d_;
  std::map<std::pair<size_t, size_t>, Hash> memo_;
};

}  // namespace dg::testing

#endif  // DISTILLGATE_TESTS_REFERENCE_TREE_H_
