// The gate between a decision and training. Only a decision that is
// recorded in the ledger and allows training mints a Permit, and nothing else
// can construct one; a run (record/recorded_run.h) opens only from a Permit
// and re-checks it against the job and the ledger. The gate is the single
// writer of decision entries.
//
// Atomicity: the decision is one ledger append; if it cannot be recorded
// there is no decision and no permit (fail closed). Thread safety: uses the
// Ledger from the calling thread; a Permit is an immutable value.
#ifndef DISTILLGATE_POLICY_GATE_H_
#define DISTILLGATE_POLICY_GATE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "core/ed25519.h"
#include "core/hash.h"
#include "core/status.h"
#include "ledger/ledger.h"
#include "policy/evaluate.h"

namespace dg {

class Permit {
 public:
  const std::string& job_sha256() const { return job_sha256_; }
  uint64_t decision_index() const { return decision_index_; }
  const Hash& decision_leaf_hash() const { return decision_leaf_hash_; }
  const std::string& ledger_origin() const { return ledger_origin_; }

 private:
  friend class Gate;
  Permit() = default;
  std::string job_sha256_;
  uint64_t decision_index_ = 0;
  Hash decision_leaf_hash_{};
  std::string ledger_origin_;
};

struct GateResult {
  Decision decision;
  uint64_t decision_index = 0;
  std::optional<Permit> permit;  // set exactly when decision.AllowsTraining()
};

class Gate {
 public:
  // Evaluates, appends the decision (kind "decision") and mints a permit
  // when the decision allows training. Fails closed: if the decision cannot
  // be recorded, no permit exists.
  static StatusOr<GateResult> Decide(const Job& job, const Policy& policy, const KnowledgeBase& kb, Ledger& ledger,
                                     const PrivateKey& key, const std::string& today);
  // The job must be the one decided (same canonical hash) and the ledger
  // must still hold the decision entry the permit names.
  static Status Verify(const Permit& permit, const Job& job, Ledger& ledger);
};

}  // namespace dg

#endif  // DISTILLGATE_POLICY_GATE_H_
