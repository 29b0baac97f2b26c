#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "core/clock.h"
#include "core/ed25519.h"
#include "ledger/ledger.h"
#include "license/knowledge_base.h"
#include "record/run_record.h"
#include "policy/approval.h"
#include "policy/evaluate.h"
#include "policy/gate.h"

namespace dg::cli {
namespace {

struct CheckArgs {
  std::string job, policy, licenses, ledger, key;
  bool as_json = false;
};

void PrintHuman(const Job& job, const Decision& dec) {
  std::cout << "job " << job.name << ": " << VerdictName(dec.verdict)
            << (dec.mode == PolicyMode::kEnforce ? "" : std::string(" (policy mode ") + PolicyModeName(dec.mode) + ": not enforced)") << "\n";
  for (const auto& f : dec.findings) {
    std::cout << "  " << (f.waived ? "waived " : "") << f.severity << "  " << f.subject << "  " << f.rule << ": "
              << f.message;
    if (f.clause.is_object()) {
      std::cout << " [" << f.license << " " << f.clause.value("section", "") << ": \""
                << f.clause.value("quote", "").substr(0, 120) << (f.clause.value("quote", "").size() > 120 ? "…" : "") << "\"]";
    }
    if (!f.fix.empty() && !f.waived) std::cout << "\n      fix: " << f.fix;
    if (f.waived) std::cout << "\n      waiver: " << f.waiver;
    std::cout << "\n";
  }
  for (const auto& o : dec.obligations) {
    std::cout << "  obligation [" << o.status << "] " << o.kind << " (" << o.license << "): " << o.text << "\n";
  }
  if (!dec.student_licenses.empty()) {
    std::cout << "  the student must carry:";
    for (const auto& l : dec.student_licenses) std::cout << " " << l;
    std::cout << "\n";
  }
  for (const auto& a : dec.assumptions) {
    std::cout << "  assumed: " << a.fact << " " << a.assumed << " — " << a.because << " (" << a.subject << ")\n";
  }
  if (dec.rests_on_unverified) std::cout << "  note: this verdict rests partly on unverified facts (see warnings)\n";
  for (const auto& ap : dec.approvals) {
    std::cout << "  approved by " << ap.value("approver", "") << " (" << ap.value("role", "") << ") at " << ap.value("approved_at", "")
              << ", ledger entry " << ap.value("ledger_index", 0) << ": " << ap.value("note", "") << "\n";
  }
  if (dec.approved) std::cout << "  the policy's required approvals are recorded: the job may run\n";
}

struct ApproveArgs {
  std::string ledger, ledger_key, run, key, role, note, policy;
  bool as_json = false;
};

// `approve`: the approver's signed approval of a needs-review run, appended.
Status RunApprove(const ApproveArgs& a) {
  DG_ASSIGN_OR_RETURN(Policy policy, LoadPolicy(a.policy));
  DG_ASSIGN_OR_RETURN(PrivateKey ledger_key, PrivateKey::LoadPemFile(a.ledger_key));
  DG_ASSIGN_OR_RETURN(PrivateKey approver, PrivateKey::LoadPemFile(a.key));
  DG_ASSIGN_OR_RETURN(auto ledger, Ledger::Open(a.ledger, Ledger::Mode::kReadWrite));
  DG_ASSIGN_OR_RETURN(RunRecord r, LoadRunRecord(*ledger, a.run));
  DG_ASSIGN_OR_RETURN(uint64_t index, RecordApproval(*ledger, ledger_key, approver, policy, {r.decision.index, a.role, a.note}));
  if (a.as_json) {
    std::cout << nlohmann::json{{"run", r.run_id}, {"decision_index", r.decision.index}, {"approval_index", index}, {"role", a.role}}.dump(2) << "\n";
  } else {
    std::cout << "recorded the approval (" << a.role << ") of run " << r.run_id << " as ledger entry " << index
              << "; the job's next decision under this policy counts it\n";
  }
  return Status::Ok();
}

// The decision's exit code: 0 allowed, 1 denied, 4 needs review.
StatusOr<int> RunCheck(const CheckArgs& a) {
  DG_ASSIGN_OR_RETURN(Job job, LoadJob(a.job));
  DG_ASSIGN_OR_RETURN(Policy policy, LoadPolicy(a.policy));
  auto kb = a.licenses.empty() ? KnowledgeBase::ForThisProcess() : KnowledgeBase::BuiltinAnd(a.licenses);
  if (!kb.ok()) return kb.status();
  std::optional<Decision> dec;
  std::optional<uint64_t> recorded_at;
  if (a.ledger.empty()) {
    DG_ASSIGN_OR_RETURN(dec, Evaluate(job, policy, **kb, TodayUtc()));
  } else {
    // The gate records the decision before it is reported; a ledger that
    // cannot be written fails the check (the gate fails closed).
    if (a.key.empty()) return Status::InvalidInput("--ledger needs --key");
    DG_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::LoadPemFile(a.key));
    DG_ASSIGN_OR_RETURN(auto ledger, Ledger::Open(a.ledger, Ledger::Mode::kReadWrite));
    DG_ASSIGN_OR_RETURN(GateResult gate, Gate::Decide(job, policy, **kb, *ledger, key, TodayUtc()));
    dec = std::move(gate.decision);
    recorded_at = gate.decision_index;
  }
  nlohmann::json out = ToJson(*dec);
  out["job"] = job.name;
  if (recorded_at) {
    out["ledger_index"] = *recorded_at;
    out["run"] = RunIdFor(job.sha256, *recorded_at);
  }
  if (a.as_json) std::cout << out.dump(2) << "\n";
  else PrintHuman(job, *dec);
  if (!a.as_json && recorded_at) {
    std::cout << "recorded as ledger entry " << *recorded_at << " (run " << out["run"].get<std::string>() << ")\n";
  }
  return dec->ExitCode();  // a decision, not an error: nothing more to print
}

}  // namespace

void RegisterCheck(CLI::App& app, Dispatch& d) {
  auto a = std::make_shared<CheckArgs>();
  CLI::App* check = app.add_subcommand(
      "check", "Decide whether a distillation job may run under its teachers' licenses and terms and the policy.\n"
               "Exit 0 allowed (with or without obligations), 1 denied, 4 needs review, 2 bad input, 3 internal error.");
  check->add_option("--job", a->job, "Job file (schemas/job.schema.json)")->required();
  check->add_option("--policy", a->policy, "Policy file (schemas/policy.schema.json); default: the built-in policy");
  check->add_option("--licenses", a->licenses, "Also read the license profiles of this directory (one with a built-in id replaces it, and the decision says so); default: $DISTILLGATE_LICENSES or the project config's licenses");
  check->add_option("--ledger", a->ledger, "Record the decision in this ledger");
  check->add_option("--key", a->key, "The ledger's private key (with --ledger)");
  check->add_flag("--json", a->as_json, "Print the full decision as JSON");
  check->callback([&d, a] {
    d.handler = [a] { return RunCheck(*a); };
  });

  auto ap = std::make_shared<ApproveArgs>();
  CLI::App* approve = app.add_subcommand(
      "approve", "Sign and record an approval of a needs-review run by one of the policy's approvers; the job's next decision "
                 "under that policy runs once the approvals require_approval asks for are recorded (docs/licenses-and-policy.md §Approvals)");
  approve->add_option("--ledger", ap->ledger, "Ledger file")->required();
  approve->add_option("--ledger-key", ap->ledger_key, "The ledger's private key (signs the checkpoint)")->required();
  approve->add_option("--run", ap->run, "The needs-review run, as `check --ledger` or `run` printed it")->required();
  approve->add_option("--key", ap->key, "The approver's private key (Ed25519 PEM; its verifier key is listed in the policy's approvers)")->required();
  approve->add_option("--role", ap->role, "The approver's role, as the policy lists it")->required();
  approve->add_option("--note", ap->note, "Why the job may run (recorded as written)")->required();
  approve->add_option("--policy", ap->policy, "The policy the run was decided under; default: the built-in policy");
  approve->add_flag("--json", ap->as_json, "Print JSON");
  approve->callback([&d, ap] { d.handler = ExitZeroOr([ap] { return RunApprove(*ap); }); });
}

}  // namespace dg::cli
