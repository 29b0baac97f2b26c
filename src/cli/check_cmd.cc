#include <iostream>

#include "cli/commands.h"
#include "core/ed25519.h"
#include "ledger/ledger.h"
#include "license/knowledge_base.h"
#include "lineage/run_record.h"
#include "policy/evaluate.h"

namespace dg::cli {
namespace {

struct CheckArgs {
  std::string job, policy, licenses, ledger, key;
  bool as_json = false;
};

void PrintHuman(const Job& job, const Decision& dec) {
  std::cout << "job " << job.name << ": " << VerdictName(dec.verdict)
            << (dec.mode == "enforce" ? "" : " (policy mode " + dec.mode + ": not enforced)") << "\n";
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
  if (dec.rests_on_unverified) std::cout << "  note: this verdict rests partly on unverified facts (see warnings)\n";
}

Status RunCheck(const CheckArgs& a, int* exit_code) {
  DG_ASSIGN_OR_RETURN(Job job, LoadJob(a.job));
  DG_ASSIGN_OR_RETURN(Policy policy, LoadPolicy(a.policy));
  auto kb = a.licenses.empty() ? KnowledgeBase::Builtin() : KnowledgeBase::LoadDirectory(a.licenses);
  if (!kb.ok()) return kb.status();
  DG_ASSIGN_OR_RETURN(Decision dec, Evaluate(job, policy, **kb, TodayUtc()));
  nlohmann::json out = ToJson(dec);
  out["job"] = job.name;
  if (!a.ledger.empty()) {
    // Record the decision before reporting it; a ledger that cannot be
    // written fails the check (the gate fails closed).
    if (a.key.empty()) return Status::InvalidInput("--ledger needs --key");
    DG_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::LoadPemFile(a.key));
    DG_ASSIGN_OR_RETURN(auto ledger, Ledger::Open(a.ledger, Ledger::Mode::kReadWrite));
    nlohmann::json body = out;
    body["job_document"] = job.doc;  // as Gate::Decide records it
    DG_ASSIGN_OR_RETURN(LedgerEntry e, LedgerEntry::Make("decision", body));
    DG_ASSIGN_OR_RETURN(AppendResult r, ledger->Append({e}, key));
    out["ledger_index"] = r.first_index;
    out["run"] = RunIdFor(job.sha256, r.first_index);
  }
  if (a.as_json) std::cout << out.dump(2) << "\n";
  else PrintHuman(job, dec);
  if (!a.as_json && out.contains("run")) {
    std::cout << "recorded as ledger entry " << out["ledger_index"] << " (run " << out["run"].get<std::string>() << ")\n";
  }
  *exit_code = dec.ExitCode();
  return Status::Ok();
}

}  // namespace

void RegisterCheck(CLI::App& app, Dispatch& d) {
  auto a = std::make_shared<CheckArgs>();
  CLI::App* check = app.add_subcommand(
      "check", "Decide whether a distillation job may run under its teachers' licenses and terms and the policy.\n"
               "Exit 0 allowed (with or without obligations), 1 denied, 4 needs review, 2 bad input, 3 internal error.");
  check->add_option("--job", a->job, "Job file (schemas/job.schema.json)")->required();
  check->add_option("--policy", a->policy, "Policy file (schemas/policy.schema.json); default: the built-in policy");
  check->add_option("--licenses", a->licenses, "Read license profiles from this directory instead of the built-in ones");
  check->add_option("--ledger", a->ledger, "Record the decision in this ledger");
  check->add_option("--key", a->key, "The ledger's private key (with --ledger)");
  check->add_flag("--json", a->as_json, "Print the full decision as JSON");
  check->callback([&d, a] {
    d.handler = [a]() -> Status {
      int code = 0;
      DG_RETURN_IF_ERROR(RunCheck(*a, &code));
      if (code != 0) std::exit(code);  // a decision, not an error: nothing more to print
      return Status::Ok();
    };
  });
}

}  // namespace dg::cli
