#include "ledger/fsck.h"

#include <map>
#include <memory>

#include <nlohmann/json.hpp>

#include "core/canonical_json.h"
#include "core/encoding.h"
#include "ledger/checkpoint.h"
#include "ledger/merkle.h"

namespace dg {
namespace {

class Problems {
 public:
  Problems(FsckReport* r, size_t max) : r_(r), max_(max) {}
  void Add(const std::string& p) {
    ++r_->problem_count;
    if (r_->problems.size() < max_) r_->problems.push_back(p);
  }

 private:
  FsckReport* r_;
  size_t max_;
};

// Checks the leaf bytes are exactly the canonical encoding LedgerEntry
// makes: canonical JSON of an object with the members "body" (an object) and
// "kind" (a valid kind), and nothing else. One pass, no DOM.
bool IsCanonicalEntry(const StoredLeaf& leaf, std::string* why) {
  const std::string& data = leaf.data;
  size_t members = 0;
  if (!IsCanonicalJson(data, why, &members)) {
    *why = "is not RFC 8785 canonical JSON (" + *why + ")";
    return false;
  }
  static constexpr std::string_view kPrefix = "{\"body\":{";
  if (members != 2 || std::string_view(data).substr(0, kPrefix.size()) != kPrefix ||
      !IsValidEntryKind(leaf.kind)) {
    *why = "is not {\"body\":{…},\"kind\":\"…\"}";
    return false;
  }
  return true;
}

}  // namespace

StatusOr<FsckReport> Fsck(Ledger& ledger, const NoteVerifier& trusted, const FsckOptions& options) {
  FsckReport report;
  Problems problems(&report, options.max_problems);
  // One consistent snapshot even while appenders keep writing.
  Ledger::ReadSnapshot snapshot(ledger);

  if (ledger.origin() != trusted.name()) {
    problems.Add("ledger origin \"" + ledger.origin() + "\" differs from the trusted key's name \"" + trusted.name() + "\"");
  }
  if (ledger.recorded_vkey() != trusted.ToString()) {
    problems.Add("ledger records verifier key " + ledger.recorded_vkey() + ", not the trusted " + trusted.ToString());
  }

  // Head.
  DG_ASSIGN_OR_RETURN(report.tree_size, ledger.Size());
  DG_ASSIGN_OR_RETURN(report.head_note, ledger.HeadNote());
  const uint64_t n = report.tree_size;
  auto head_cp = OpenCheckpoint(report.head_note, trusted);
  if (!head_cp.ok()) problems.Add("head checkpoint: " + head_cp.status().message());
  else if (head_cp->size != n) problems.Add("head size " + std::to_string(n) + " differs from its checkpoint's size");

  // Every kept checkpoint must carry a good signature.
  std::map<uint64_t, Hash> signed_roots;
  DG_ASSIGN_OR_RETURN(auto cps, ledger.Checkpoints());
  bool head_kept = false;
  for (const auto& [size, note] : cps) {
    ++report.checkpoints_checked;
    auto cp = OpenCheckpoint(note, trusted);
    if (!cp.ok()) {
      problems.Add("checkpoint at size " + std::to_string(size) + ": " + cp.status().message());
      continue;
    }
    if (cp->size != size) {
      problems.Add("checkpoint row for size " + std::to_string(size) + " holds a note for size " + std::to_string(cp->size));
      continue;
    }
    if (size > n) problems.Add("checkpoint at size " + std::to_string(size) + " is beyond the head (" + std::to_string(n) + ")");
    if (size == n && note == report.head_note) head_kept = true;
    signed_roots[size] = cp->root;
  }
  if (!head_kept) problems.Add("the head checkpoint is not among the kept checkpoints");

  std::optional<Checkpoint> since;
  if (options.since_note) {
    auto s = OpenCheckpoint(*options.since_note, trusted);
    if (!s.ok()) {
      problems.Add("saved checkpoint (--since): " + s.status().message());
    } else {
      since = *s;
      if (since->size > n) {
        problems.Add("ledger has " + std::to_string(n) + " entries but the saved checkpoint has " +
                     std::to_string(since->size) + ": it was truncated or rolled back");
      }
    }
  }

  // Stream every leaf: hash its data and feed a compact range, which yields
  // the interior nodes this leaf completes; those of stored levels must
  // equal, byte for byte, the hashes stored with the leaf.
  std::map<uint64_t, Hash> computed_roots;
  computed_roots[0] = EmptyRootHash();
  CompactRange range;
  DG_ASSIGN_OR_RETURN(auto leaves, ledger.ScanLeaves(0, n));
  StoredLeaf leaf;
  std::string completed;
  CompactRange::NodeSink sink = [&completed](int level, uint64_t, const Hash& h) {
    if (level >= kFirstStoredLevel) completed += AsBytes(h);
  };
  auto next_cp = signed_roots.upper_bound(0);
  for (;;) {
    auto row = leaves->Next(&leaf);
    if (!row.ok()) {
      problems.Add("leaf " + std::to_string(range.size()) + ": " + row.status().message());
      break;
    }
    if (!*row) break;
    if (leaf.index != range.size()) {
      problems.Add("leaf " + std::to_string(range.size()) + " is missing (next stored leaf is " +
                   std::to_string(leaf.index) + ")");
      break;
    }
    ++report.leaves_checked;
    std::string why;
    if (options.check_entry_encoding && !IsCanonicalEntry(leaf, &why)) {
      problems.Add("leaf " + std::to_string(leaf.index) + ": data " + why);
    }
    completed.clear();
    range.Append(leaf.leaf_hash, sink);
    report.nodes_checked += completed.size() / 32;
    if (leaf.nodes != completed) {
      problems.Add("leaf " + std::to_string(leaf.index) + ": stored subtree hashes (" +
                   std::to_string(leaf.nodes.size()) + " bytes) differ from the recomputed ones (" +
                   std::to_string(completed.size()) + " bytes)");
    }
    if (next_cp != signed_roots.end() && next_cp->first == range.size()) {
      computed_roots[range.size()] = range.Root();
      ++next_cp;
    }
    if (since && since->size == range.size()) computed_roots[range.size()] = range.Root();
  }
  leaves.reset();
  if (range.size() != n) {
    problems.Add("ledger holds " + std::to_string(range.size()) + " consecutive leaves but its head says " +
                 std::to_string(n));
  }
  DG_ASSIGN_OR_RETURN(uint64_t stored_leaves, ledger.CountLeaves());
  if (stored_leaves != range.size()) {
    problems.Add("ledger stores " + std::to_string(stored_leaves) + " leaf rows, expected " + std::to_string(range.size()));
  }

  // Signed roots must equal the recomputed ones.
  for (const auto& [size, root] : signed_roots) {
    auto it = computed_roots.find(size);
    if (it == computed_roots.end()) continue;  // already reported: beyond the stored leaves
    if (it->second != root) {
      problems.Add("checkpoint at size " + std::to_string(size) + " signs root " + Base64Encode(root) +
                   " but the stored entries hash to " + Base64Encode(it->second));
    }
  }

  // The saved checkpoint must be a prefix of this ledger: check the root at
  // its size and a consistency proof to the head, as an outside verifier would.
  if (since && since->size <= n && range.size() == n) {
    auto it = computed_roots.find(since->size);
    if (it != computed_roots.end() && it->second != since->root) {
      problems.Add("ledger does not extend the saved checkpoint (size " + std::to_string(since->size) +
                   "): the entries up to that size were changed (fork or rewrite)");
    } else if (since->size > 0 && head_cp.ok()) {
      auto proof = ledger.ConsistencyProof(since->size, n);
      Status c = proof.ok() ? VerifyConsistency(since->size, n, *proof, since->root, head_cp->root) : proof.status();
      if (!c.ok()) problems.Add("consistency from the saved checkpoint to the head: " + c.message());
    }
  }
  return report;
}

Status FsckStatus(const FsckReport& report) {
  if (report.problem_count == 0) return Status::Ok();
  std::string msg = std::to_string(report.problem_count) + " problem(s) found:";
  for (const auto& p : report.problems) msg += "\n  - " + p;
  if (report.problem_count > report.problems.size()) {
    msg += "\n  - … and " + std::to_string(report.problem_count - report.problems.size()) + " more";
  }
  return Status::VerifyFailed(msg);
}

}  // namespace dg
