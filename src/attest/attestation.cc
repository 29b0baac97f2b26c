#include "attest/attestation.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "core/canonical_json.h"
#include "core/dsse.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "model/model_dir.h"

namespace dg {

using json = nlohmann::json;

namespace {

StatusOr<json> ProvenEntry(Ledger& ledger, const std::string& role, const RecordedEntry& e, uint64_t tree_size) {
  DG_ASSIGN_OR_RETURN(std::vector<Hash> proof, ledger.InclusionProof(e.index, tree_size));
  json hashes = json::array();
  for (const Hash& h : proof) hashes.push_back(Base64Encode(h));
  DG_ASSIGN_OR_RETURN(json entry, ParseJsonStrict(e.data, "ledger entry " + std::to_string(e.index)));
  return json{{"role", role},
              {"index", e.index},
              {"leaf_hash", Base64Encode(e.leaf_hash)},
              {"proof", hashes},
              {"entry", std::move(entry)}};
}

}  // namespace

json DerivePredicate(const json& dec, const json& start, const std::vector<json>& manifests, const json& model,
                     const json& end) {
  json teachers = json::array(), deps = json::array(), datasets = json::array();
  if (start.contains("teacher")) {
    const json& t = start["teacher"];
    teachers.push_back({{"id", t.value("id", "")}, {"license", t.value("license", "")}, {"sha256", t.value("sha256", "")}});
    deps.push_back({{"name", "teacher:" + t.value("id", "")},
                    {"digest", {{"sha256", t.value("sha256", "")}}},
                    {"annotations", {{"license", t.value("license", "")}}}});
  }
  for (const json& b : manifests) {
    datasets.push_back({{"dataset", b.value("dataset", "")},
                        {"license", b.value("license", "")},
                        {"records", b.value("records", uint64_t{0})},
                        {"records_root", b.value("records_root", "")}});
    for (const json& f : b.value("files", json::array())) {
      deps.push_back({{"name", "dataset:" + b.value("dataset", "") + ":" + BaseName(f.value("path", ""))},
                      {"uri", "file://" + f.value("path", "")},
                      {"digest", {{"sha256", f.value("sha256", "")}}},
                      {"annotations", {{"license", b.value("license", "")}, {"bytes", f.value("bytes", uint64_t{0})}}}});
    }
  }
  const json inputs = dec.value("inputs", json::object());
  const json metrics = model.value("metrics", json::object());
  return {
      {"buildDefinition",
       {{"buildType", kBuildType},
        {"externalParameters", {{"job", dec.value("job_document", json::object())}, {"job_sha256", start.value("job_sha256", "")}}},
        {"internalParameters", {{"mode", start.value("mode", "")}, {"training", start.value("training", json::object())}, {"runtime", start.value("runtime", "")}}},
        {"resolvedDependencies", deps}}},
      {"runDetails", {{"builder", {{"id", kBuilderId}, {"version", {{"distillgate", kDistillgateVersion}}}}},
                      {"metadata", {{"invocationId", start.value("run", "")}}}}},
      {"run", start.value("run", "")},
      {"student",
       {{"name", model.value("student", "")},
        {"model_sha256", model.value("sha256", "")},
        {"arch", model.value("arch", "")},
        {"test_accuracy", metrics.value("test_accuracy", json())}}},
      {"teachers", teachers},
      {"decision",
       {{"verdict", dec.value("verdict", "")},
        {"mode", dec.value("mode", "")},
        {"policy_sha256", inputs.value("policy_sha256", "")},
        {"job_sha256", inputs.value("job_sha256", "")},
        {"obligations", dec.value("obligations", json::array())}}},
      {"datasets", datasets},
      {"teacher_calls", {{"count", end.value("teacher_calls", uint64_t{0})}, {"root", end.value("teacher_calls_root", "")}}}};
}

StatusOr<json> BuildStatement(Ledger& ledger, const AttestOptions& options) {
  if (options.model_files.empty()) return Status::InvalidInput("attest: give at least one --model file");
  Ledger::ReadSnapshot snap(ledger);
  DG_ASSIGN_OR_RETURN(RunRecord r, LoadRunRecord(ledger, options.run_id));
  if (r.decision.body.value("kind", "") == "attribution") {
    return Status::InvalidInput("run " + r.run_id + " is an attribution, which trains no model: re-check it with `distillgate attribute verify`");
  }
  if (r.status() != RunStatus::kCompleted || !r.run_start || !r.model || !r.run_end) {
    return Status::InvalidInput("run " + r.run_id + " is " + RunStatusName(r.status()) +
                                ": only a completed run (decision, run_start, model, run_end) can be attested");
  }
  // The ledger must agree with itself before we sign anything about it.
  const uint64_t recorded_calls = r.run_end->body.value("teacher_calls", uint64_t{0});
  const std::string recorded_root = r.run_end->body.value("teacher_calls_root", "");
  if (recorded_calls != r.teacher_calls || recorded_root != Base64Encode(r.TeacherCallsRoot())) {
    return Status::VerifyFailed("run " + r.run_id + ": run_end records " + std::to_string(recorded_calls) +
                                " teacher calls with root " + recorded_root + ", but the ledger holds " +
                                std::to_string(r.teacher_calls) + " with root " +
                                Base64Encode(r.TeacherCallsRoot()));
  }
  // Every entry of the run is disclosed: run_end commits to the set.
  const json committed = r.run_end->body.value("entries", json());
  if (!committed.is_object()) {
    return Status::VerifyFailed("run " + r.run_id + ": run_end does not commit to the run's entries (a ledger written before "
                                "the commitment existed): the run cannot be attested");
  }
  if (committed.value("count", uint64_t{0}) != r.entry_leaves.size() || committed.value("root", "") != Base64Encode(r.EntriesRoot())) {
    return Status::VerifyFailed("run " + r.run_id + ": run_end commits to " + std::to_string(committed.value("count", uint64_t{0})) +
                                " entries, but the ledger holds " + std::to_string(r.entry_leaves.size()) + " with another root");
  }
  if (r.entries_after_end > 0) {
    return Status::VerifyFailed("run " + r.run_id + ": the ledger holds " + std::to_string(r.entries_after_end) +
                                " entries of the run after its run_end");
  }
  const std::string model_sha = r.run_end->body.value("model_sha256", "");
  json subjects = json::array();
  bool has_model = false;
  for (const std::string& f : options.model_files) {
    // A file is named by its SHA-256; a model directory by its model_signing
    // root (docs/model-identity.md), the subject digest a model_signing
    // signature of the directory carries. Either way the model_signing root
    // is annotated, so one digest links that signature, this statement and
    // the ledger's model entry.
    DG_ASSIGN_OR_RETURN(ModelManifest m, HashModel(f));
    json annotations = {{"model_signing_root", HexEncode(m.root)}};
    if (m.directory) {
      std::string run_file;
      for (const ModelFile& mf : m.files) {
        if (HexEncode(mf.sha256) == model_sha) run_file = mf.path;
      }
      has_model |= !run_file.empty();
      annotations["model_directory"] = {{"files", m.files.size()}, {"bytes", m.total_bytes()}, {"ignore_paths", m.ignore_paths}};
      if (!run_file.empty()) annotations["model_directory"]["run_model_file"] = run_file;
      subjects.push_back({{"name", m.name}, {"digest", {{"sha256", HexEncode(m.root)}}}, {"annotations", annotations}});
      continue;
    }
    const std::string hex = HexEncode(m.files[0].sha256);
    has_model |= hex == model_sha;
    subjects.push_back({{"name", BaseName(f)}, {"digest", {{"sha256", hex}}}, {"annotations", annotations}});
  }
  if (!has_model) {
    return Status::InvalidInput("attest: none of the --model files is, or is a directory holding, run " + r.run_id +
                                "'s model (recorded sha256 " + model_sha + ")");
  }

  DG_ASSIGN_OR_RETURN(std::string note, ledger.CheckpointNote(r.tree_size));
  json entries = json::array();
  auto add = [&](const std::string& role, const RecordedEntry& e) -> Status {
    DG_ASSIGN_OR_RETURN(json j, ProvenEntry(ledger, role, e, r.tree_size));
    entries.push_back(std::move(j));
    return Status::Ok();
  };
  DG_RETURN_IF_ERROR(add("decision", r.decision));
  DG_RETURN_IF_ERROR(add("run_start", *r.run_start));
  for (const auto& m : r.manifests) DG_RETURN_IF_ERROR(add("dataset_manifest", m));
  for (const auto& o : r.others) DG_RETURN_IF_ERROR(add(o.kind, o));
  DG_RETURN_IF_ERROR(add("model", *r.model));
  DG_RETURN_IF_ERROR(add("run_end", *r.run_end));

  std::vector<json> manifests;
  for (const auto& m : r.manifests) manifests.push_back(m.body);
  json predicate = DerivePredicate(r.decision.body, r.run_start->body, manifests, r.model->body, r.run_end->body);
  predicate["ledger"] = {{"origin", ledger.origin()}, {"tree_size", r.tree_size}, {"checkpoint", note}, {"entries", entries}};
  return json{{"_type", kInTotoStatementType},
              {"subject", subjects},
              {"predicateType", kPredicateType},
              {"predicate", predicate}};
}

std::string DsseKeyId(const NoteVerifier& key) {
  char id[9];
  std::snprintf(id, sizeof id, "%08x", static_cast<unsigned>(key.key_id()));
  return key.name() + "+" + id;
}

StatusOr<json> SignStatement(const json& statement, const PrivateKey& key, const std::string& keyid) {
  // Canonical bytes, so the payload is reproducible from the statement.
  DG_ASSIGN_OR_RETURN(std::string canon, Canonicalize(statement));
  return DsseSign(kInTotoPayloadType, canon, key, keyid);
}

}  // namespace dg
