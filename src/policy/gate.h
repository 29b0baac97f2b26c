// The gate between a decision and training. Only a decision that is
// recorded in the ledger and allows training — or an attribution's plan,
// which trains nothing (DecideAttribution) — mints a Permit, and nothing else
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

#include <nlohmann/json.hpp>

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

// What a run was decided on, for the runs that are not a distillation job
// (an attribution's plan): a name and the SHA-256 of its canonical form.
struct RunSubject {
  std::string name;
  std::string sha256;  // hex SHA-256 of the subject document's RFC 8785 form
};

struct GateResult {
  Decision decision;
  uint64_t decision_index = 0;
  std::optional<Permit> permit;  // set exactly when decision.AllowsTraining()
};

// A run's id: the first 16 hex digits of the job's canonical SHA-256, "-", the
// index of its decision entry. A refused decision has an id too.
std::string RunIdFor(const std::string& job_sha256, uint64_t decision_index);

class Gate {
 public:
  // Evaluates, appends the decision (kind "decision") and mints a permit
  // when the decision allows training. Fails closed: if the decision cannot
  // be recorded, no permit exists.
  static StatusOr<GateResult> Decide(const Job& job, const Policy& policy, const KnowledgeBase& kb, Ledger& ledger,
                                     const PrivateKey& key, const std::string& today);
  // An attribution (docs/attribution.md) trains nothing: it only queries
  // models. Its plan — the models, the options and the pre-registered probe
  // sets' hashes — is recorded in full as a decision entry (kind
  // "attribution", verdict allow, one warning finding: the endpoints' own
  // terms for evaluation queries are not checked) and the permit it mints
  // opens a run of that plan only: its job_sha256 is the plan's hash, which
  // no distillation job (a closed schema without the plan's "format") has.
  // InvalidInput when `plan` is not an object with "format"
  // "distillgate-attribution-plan-v1".
  static StatusOr<GateResult> DecideAttribution(const nlohmann::json& plan, Ledger& ledger, const PrivateKey& key);
  // A second process of a run decided once — a rank of a data-parallel run
  // (docs/runner.md) — gets its own permit from the ledger, never from the
  // process that decided: the entry at `decision_index` must be a decision
  // with exactly `decision_leaf_hash`, about this job (its canonical hash)
  // and allowing training as recorded (verdict and mode); an attribution's
  // plan is not a job. VerifyFailed otherwise; the ledger's own errors as
  // they are. The caller checks that the run it joins is still open.
  static StatusOr<Permit> Admit(const Job& job, Ledger& ledger, uint64_t decision_index, const Hash& decision_leaf_hash);
  // The job must be the one decided (same canonical hash) and the ledger
  // must still hold the decision entry the permit names.
  static Status Verify(const Permit& permit, const Job& job, Ledger& ledger);
  static Status Verify(const Permit& permit, const RunSubject& subject, Ledger& ledger);
};

}  // namespace dg

#endif  // DISTILLGATE_POLICY_GATE_H_
