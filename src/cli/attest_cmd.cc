// `distillgate attest`, `distillgate verify`, `distillgate data prove|verify`.
#include <iostream>

#include "cli/arg_checks.h"
#include "cli/commands.h"
#include "core/canonical_json.h"
#include "core/file_util.h"
#include "ledger/key_files.h"
#include "attest/attestation.h"
#include "attest/claim_verify.h"
#include "attest/data_proof.h"

namespace dg::cli {
namespace {

using json = nlohmann::json;

StatusOr<json> ReadJsonFile(const std::string& path) {
  DG_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseJsonStrict(text, path);
}

// The pinned key: a vkey, or a PEM public key named after the bundle's ledger.
StatusOr<NoteVerifier> PinnedKey(const std::string& path, const json& envelope) {
  std::string origin = "distillgate";
  if (envelope.is_object() && envelope.contains("signatures") && envelope["signatures"].is_array() &&
      !envelope["signatures"].empty() && envelope["signatures"][0].is_object()) {
    const std::string keyid = envelope["signatures"][0].value("keyid", "");
    const size_t plus = keyid.rfind('+');
    if (plus != std::string::npos && plus > 0) origin = keyid.substr(0, plus);
  }
  return LoadTrustedKey(path, origin);
}

struct AttestArgs {
  std::string ledger, key, run, out;
  std::vector<std::string> models;
  bool as_json = false;
};

Status RunAttest(const AttestArgs& a) {
  if (FileExists(a.out)) return Status::InvalidInput(a.out + ": exists; choose another --out");
  DG_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::LoadPemFile(a.key));
  DG_ASSIGN_OR_RETURN(auto ledger, Ledger::Open(a.ledger, Ledger::Mode::kReadOnly));
  DG_ASSIGN_OR_RETURN(NoteVerifier recorded, NoteVerifier::Parse(ledger->recorded_vkey()));
  if (!(recorded.key() == key.public_key())) {
    return Status::InvalidInput(a.key + ": not the key of ledger " + ledger->origin() +
                                " (its checkpoints are signed by " + recorded.ToString() + ")");
  }
  DG_ASSIGN_OR_RETURN(json statement, BuildStatement(*ledger, {a.run, a.models}));
  DG_ASSIGN_OR_RETURN(json envelope, SignStatement(statement, key, DsseKeyId(recorded)));
  DG_RETURN_IF_ERROR(WriteFileAtomic(a.out, envelope.dump(2) + "\n", 0644, true));
  const json& p = statement["predicate"];
  if (a.as_json) {
    json subjects = json::array();
    for (const auto& sub : statement["subject"]) subjects.push_back({{"name", sub["name"]}, {"sha256", sub["digest"]["sha256"]}});
    std::cout << json{{"run", p["run"]},
                      {"subjects", subjects},
                      {"ledger", {{"origin", p["ledger"]["origin"]}, {"tree_size", p["ledger"]["tree_size"]}, {"entries", p["ledger"]["entries"].size()}}},
                      {"teacher_calls", {{"count", p["teacher_calls"]["count"]}, {"root", p["teacher_calls"]["root"]}}},
                      {"written", a.out}}
                     .dump(2)
              << "\n";
    return Status::Ok();
  }
  std::cout << "attested run " << p["run"].get<std::string>() << ": " << statement["subject"].size()
            << " subject(s), " << p["ledger"]["entries"].size() << " ledger entries proven against checkpoint "
            << p["ledger"]["origin"].get<std::string>() << " @ " << p["ledger"]["tree_size"] << ", "
            << p["teacher_calls"]["count"] << " teacher calls (root " << p["teacher_calls"]["root"].get<std::string>()
            << ")\nwrote " << a.out << "\n";
  return Status::Ok();
}

struct VerifyArgs {
  std::vector<std::string> models;
  std::string bundle, vkey, policy, ledger;
  bool as_json = false;
};

Status RunVerify(const VerifyArgs& a) {
  DG_ASSIGN_OR_RETURN(json envelope, ReadJsonFile(a.bundle));
  DG_ASSIGN_OR_RETURN(NoteVerifier key, PinnedKey(a.vkey, envelope));
  ClaimInputs in{a.models, envelope, a.bundle, key, nullptr, nullptr};
  Policy policy;
  if (!a.policy.empty()) {
    DG_ASSIGN_OR_RETURN(policy, LoadPolicy(a.policy));
    in.policy = &policy;
  }
  std::unique_ptr<Ledger> ledger;
  if (!a.ledger.empty()) {
    DG_ASSIGN_OR_RETURN(ledger, Ledger::Open(a.ledger, Ledger::Mode::kReadOnly));
    in.ledger = ledger.get();
  }
  DG_ASSIGN_OR_RETURN(ClaimReport report, VerifyClaim(in));
  if (a.as_json) {
    std::cout << report.ToJson().dump(2) << "\n";
  } else {
    for (const auto& c : report.checks) {
      std::cout << (c.informational ? "  note " : c.ok ? "  ok   " : "  FAIL ") << c.name << ": " << c.detail << "\n";
    }
    std::cout << (report.ok() ? "VERIFIED" : "NOT VERIFIED") << ": run " << report.run_id << "\n";
  }
  if (!report.ok()) {
    size_t failed = 0;
    for (const auto& c : report.checks) failed += !c.ok && !c.informational;
    return Status::VerifyFailed(std::to_string(failed) + " check(s) failed");
  }
  return Status::Ok();
}

struct DataArgs {
  std::string ledger, run, dataset, data, record, out, proof, bundle, vkey;
  int64_t index = -1;
  bool disclose = false;
  bool as_json = false;
};

Status RunDataProve(const DataArgs& a) {
  if (FileExists(a.out)) return Status::InvalidInput(a.out + ": exists; choose another --out");
  DataProveOptions o;
  o.run_id = a.run;
  o.dataset = a.dataset;
  o.data_path = a.data;
  o.disclose = a.disclose;
  if (a.index >= 0) o.index = static_cast<uint64_t>(a.index);
  if (!a.record.empty()) {
    DG_ASSIGN_OR_RETURN(std::string bytes, ReadFile(a.record));
    o.record = std::move(bytes);
  }
  DG_ASSIGN_OR_RETURN(auto ledger, Ledger::Open(a.ledger, Ledger::Mode::kReadOnly));
  DG_ASSIGN_OR_RETURN(json proof, ProveRecord(*ledger, o));
  DG_RETURN_IF_ERROR(WriteFileAtomic(a.out, proof.dump(2) + "\n", 0644, true));
  std::cout << "record " << proof["record_index"] << " of " << proof["records"] << " in dataset "
            << proof["dataset"].get<std::string>() << " (run " << proof["run"].get<std::string>() << ", "
            << proof["proof"].size() << " proof hashes)\nwrote " << a.out << "\n";
  return Status::Ok();
}

Status RunDataVerify(const DataArgs& a) {
  DG_ASSIGN_OR_RETURN(json proof, ReadJsonFile(a.proof));
  DG_ASSIGN_OR_RETURN(json envelope, ReadJsonFile(a.bundle));
  DG_ASSIGN_OR_RETURN(NoteVerifier key, PinnedKey(a.vkey, envelope));
  std::optional<std::string> record;
  if (!a.record.empty()) {
    DG_ASSIGN_OR_RETURN(std::string bytes, ReadFile(a.record));
    record = std::move(bytes);
  }
  StatusOr<DataVerifyResult> verified = VerifyRecordProof(proof, envelope, key, record, a.proof);
  if (a.as_json && (verified.ok() || verified.status().code() == Status::Code::kVerifyFailed)) {
    // A check that failed is still an answer: {verified: false, error}.
    json out = {{"verified", verified.ok()}, {"record_given", record.has_value()}};
    if (verified.ok()) {
      out.update({{"run", verified->run},
                  {"dataset", verified->dataset},
                  {"license", verified->license},
                  {"record_format", verified->record_format},
                  {"record_index", verified->record_index},
                  {"records", verified->records}});
    } else {
      out["error"] = verified.status().message();
    }
    std::cout << out.dump(2) << "\n";
  }
  if (!verified.ok()) return verified.status();
  if (a.as_json) return Status::Ok();
  const DataVerifyResult& r = *verified;
  std::cout << "VERIFIED: " << (record ? "the given record" : "the proven record") << " is record " << r.record_index
            << " of " << r.records << " in dataset " << r.dataset << " (" << r.license << "), which run " << r.run
            << " recorded in the signed ledger\n";
  return Status::Ok();
}

}  // namespace

void RegisterAttest(CLI::App& app, Dispatch& d) {
  {
    auto a = std::make_shared<AttestArgs>();
    CLI::App* c = app.add_subcommand(
        "attest", "Sign an in-toto attestation (DSSE, Ed25519) of a completed run for its model files");
    c->add_option("--ledger", a->ledger, "Ledger file")->required();
    c->add_option("--key", a->key, "The ledger's private key (PKCS#8 PEM, mode 0600)")->required();
    c->add_option("--run", a->run, "Run id as `run` printed it (or the decision's entry index)")->required();
    c->add_option("--model", a->models, "Model file(s) or directories: the subjects (a directory by its model_signing root); one must be, or hold, the run's recorded model")->required();
    c->add_option("--out", a->out, "Bundle to write (a DSSE envelope, JSON); must not exist")->required();
    c->add_flag("--json", a->as_json, "Print {run, subjects, ledger, teacher_calls, written} as JSON");
    c->callback([&d, a] { d.handler = ExitZeroOr([a] { return RunAttest(*a); }); });
  }
  {
    auto a = std::make_shared<VerifyArgs>();
    CLI::App* c = app.add_subcommand(
        "verify", "Check a lineage claim offline: model file, attestation bundle, pinned key.\n"
                  "Exit 0 only if every check holds; 1 if one fails; 2 bad input.");
    c->add_option("--model", a->models, "Model file(s) or directories the claim is about")->required();
    c->add_option("--bundle", a->bundle, "Bundle from `distillgate attest`")->required();
    c->add_option("--vkey", a->vkey, "Pinned key: the ledger's vkey (or its PEM public key)")->required();
    c->add_option("--policy", a->policy, "Re-evaluate the recorded job under this policy");
    c->add_option("--ledger", a->ledger, "Also check the bundle against this ledger (consistency, teacher calls)");
    c->add_flag("--json", a->as_json, "Print the report as JSON (schemas/verify-claim-report.schema.json)");
    c->callback([&d, a] { d.handler = ExitZeroOr([a] { return RunVerify(*a); }); });
  }
  CLI::App* data = app.add_subcommand("data", "Prove that a record was in a run's training data, without disclosing the data");
  data->require_subcommand(1);
  {
    auto a = std::make_shared<DataArgs>();
    CLI::App* c = data->add_subcommand("prove", "Write an inclusion proof of one record in a run's dataset manifest");
    c->add_option("--ledger", a->ledger, "Ledger file")->required();
    c->add_option("--run", a->run, "Run id")->required();
    auto* idx = c->add_option("--index", a->index, "Record number (0-based)")->check(LedgerIndex());
    auto* rec = c->add_option("--record", a->record, "File holding the record's exact bytes (docs/runner.md: record formats)");
    idx->excludes(rec);
    c->add_option("--dataset", a->dataset, "Dataset id as recorded (default: the training split, e.g. fashion-mnist:train)");
    c->add_option("--data", a->data, "Where the data is now (default: where the run recorded it)");
    c->add_flag("--disclose", a->disclose, "Put the record's bytes in the proof (with --record)");
    c->add_option("--out", a->out, "Proof file to write (schemas/data-proof.schema.json); must not exist")->required();
    c->callback([&d, a] { d.handler = ExitZeroOr([a] { return RunDataProve(*a); }); });
  }
  {
    auto a = std::make_shared<DataArgs>();
    CLI::App* c = data->add_subcommand("verify", "Check a record proof against a signed attestation bundle, offline");
    c->add_option("--proof", a->proof, "Proof from `data prove`")->required();
    c->add_option("--bundle", a->bundle, "Bundle from `distillgate attest` for the same run")->required();
    c->add_option("--vkey", a->vkey, "Pinned key: the ledger's vkey (or its PEM public key)")->required();
    c->add_option("--record", a->record, "Also check that this file's bytes are the proven record");
    c->add_flag("--json", a->as_json, "Print {verified, run, dataset, license, record_format, record_index, records} as JSON (on a failed check: {verified: false, error}, exit 1)");
    c->callback([&d, a] { d.handler = ExitZeroOr([a] { return RunDataVerify(*a); }); });
  }
}

}  // namespace dg::cli
