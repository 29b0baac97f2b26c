#include "attest/claim_verify.h"

#include <algorithm>
#include <map>
#include <set>

#include "core/clock.h"
#include "core/canonical_json.h"
#include "core/dsse.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "core/json_schema.h"
#include "model/model_dir.h"
#include "ledger/merkle.h"
#include "attest/attestation.h"
#include "record/run_record.h"
#include "policy/approval.h"
#include "policy/evaluate.h"
#include "policy/job.h"

namespace dg {

using json = nlohmann::json;

bool ClaimReport::ok() const {
  if (checks.empty()) return false;
  for (const auto& c : checks) {
    if (!c.ok && !c.informational) return false;
  }
  return true;
}

json ClaimReport::ToJson() const {
  json checks_j = json::array();
  for (const auto& c : checks) {
    checks_j.push_back({{"name", c.name}, {"ok", c.ok}, {"informational", c.informational}, {"detail", c.detail}});
  }
  return {{"run", run_id}, {"ok", ok()}, {"checks", checks_j}};
}

namespace {

// The signature half of OpenStatement: the exact payload bytes it covers.
StatusOr<std::string> VerifiedPayload(const json& envelope, const NoteVerifier& key, const std::string& where) {
  DG_ASSIGN_OR_RETURN(DsseVerified v, DsseVerify(envelope, key.key(), where));
  if (!v.keyid.empty() && v.keyid != DsseKeyId(key)) {
    return Status::VerifyFailed(where + ": /signatures: the signature's keyid \"" + v.keyid + "\" is not the pinned key's (" +
                                DsseKeyId(key) + ")");
  }
  if (v.payload_type != kInTotoPayloadType) {
    return Status::VerifyFailed(where + ": /payloadType: expected " + std::string(kInTotoPayloadType) + ", got \"" +
                                v.payload_type + "\"");
  }
  return std::move(v.payload);
}

// The statement half: strict JSON, the statement schema.
StatusOr<json> ParseStatement(const std::string& payload, const std::string& where) {
  auto statement = ParseJsonStrict(payload, where + " payload");
  if (!statement.ok()) return Status::VerifyFailed(statement.status().message());
  DG_ASSIGN_OR_RETURN(auto schema, JsonSchema::Builtin("attestation-statement.schema.json"));
  Status valid = schema->Validate(*statement, where + " payload");
  if (!valid.ok()) return Status::VerifyFailed(valid.message());
  return std::move(statement).value();
}

}  // namespace

StatusOr<json> OpenStatement(const json& envelope, const NoteVerifier& key, const std::string& where) {
  DG_ASSIGN_OR_RETURN(std::string payload, VerifiedPayload(envelope, key, where));
  return ParseStatement(payload, where);
}

Status VerifyProvenEntry(const json& e, const Checkpoint& cp) {
  auto leaf = HashFromBase64(e["leaf_hash"].get<std::string>());
  if (!leaf) return Status::VerifyFailed("leaf_hash is not a base64 SHA-256 hash");
  std::vector<Hash> proof;
  for (const json& p : e["proof"]) {
    auto h = HashFromBase64(p.get<std::string>());
    if (!h) return Status::VerifyFailed("a proof hash is not a base64 SHA-256 hash");
    proof.push_back(*h);
  }
  auto canon = Canonicalize(e["entry"]);
  if (!canon.ok() || LeafHash(*canon) != *leaf) return Status::VerifyFailed("the disclosed entry does not hash to its leaf_hash");
  if (e["entry"]["kind"] != e["role"]) {
    return Status::VerifyFailed("the entry is of kind " + e["entry"]["kind"].dump() + ", not " + e["role"].dump());
  }
  return VerifyInclusion(e["index"].get<uint64_t>(), cp.size, *leaf, proof, cp.root).WithContext("inclusion proof");
}

namespace {

struct Verifier {
  const ClaimInputs& in;
  ClaimReport report;
  Status malformed = Status::Ok();

  void Add(const std::string& name, bool ok, const std::string& detail, bool informational = false) {
    report.checks.push_back({name, ok, informational, detail});
  }
  void Add(const std::string& name, const Status& st, const std::string& ok_detail) {
    Add(name, st.ok(), st.ok() ? ok_detail : st.message());
  }

  void Run() {
    // 1. The signature and the statement: nothing below is trusted without them.
    auto payload = VerifiedPayload(in.envelope, in.key, in.bundle_name);
    if (!payload.ok()) {
      if (payload.status().code() == Status::Code::kInvalidInput) malformed = payload.status();  // not an envelope at all
      Add("signature", false, payload.status().message());
      return;
    }
    Add("signature", true, "the DSSE signature verifies under the pinned key " + in.key.name());
    auto statement = ParseStatement(*payload, in.bundle_name);
    if (!statement.ok()) {
      Add("statement", false, statement.status().message());
      return;
    }
    Add("statement", true, "the payload is an in-toto Statement v1 with the distillgate predicate");
    const json& st = *statement;
    const json& pred = st["predicate"];
    report.run_id = pred["run"];

    // 2. The model files are subjects.
    std::map<std::string, std::string> file_digest;
    std::map<std::string, ModelManifest> dir_identity;  // --model directories
    for (const std::string& f : in.model_files) {
      // A directory is a subject by its model_signing root (every file, its
      // path and digest); the run's model must then be one of its files.
      auto m = HashModel(f);
      if (!m.ok()) {
        Add("subject", false, m.status().message());
        continue;
      }
      const std::string hex = m->directory ? HexEncode(m->root) : HexEncode(m->files[0].sha256);
      if (m->directory) {
        dir_identity.emplace(f, *m);
        for (const ModelFile& mf : m->files) file_digest[f + "/" + mf.path] = HexEncode(mf.sha256);
      } else {
        file_digest[f] = hex;
      }
      const std::string what = m->directory ? f + " (model_signing root " : f + " (sha256 ";
      // A directory matches only a directory subject, a file only a file subject.
      bool found = false;
      for (const json& s : st["subject"]) {
        const bool dir_subject = s.contains("annotations") && s["annotations"].is_object() && s["annotations"].contains("model_directory");
        found |= s["digest"]["sha256"] == hex && dir_subject == m->directory;
      }
      Add("subject", found, found ? what + hex.substr(0, 16) + "…) is a subject of the statement"
                                  : what + hex + ") is not a subject of the statement: another " +
                                        (m->directory ? "directory, or one with a file changed, added or removed" : "file, or a changed one"));
    }

    // Every subject names its model_signing root (docs/model-identity.md):
    // a file's is SHA-256 of its raw digest; a directory's is its digest.
    for (size_t i = 0; i < st["subject"].size(); ++i) {
      const json& s = st["subject"][i];
      const std::string ptr = "/subject/" + std::to_string(i);
      const json* ann = s.contains("annotations") && s["annotations"].is_object() ? &s["annotations"] : nullptr;
      const std::optional<Hash> digest = s["digest"]["sha256"].is_string() ? HashFromHex(s["digest"]["sha256"].get<std::string>())
                                                                          : std::nullopt;
      if (ann == nullptr || !ann->contains("model_signing_root") || !(*ann)["model_signing_root"].is_string() || !digest) {
        Add("subject", false, ptr + ": no annotations.model_signing_root (a statement distillgate writes names every subject's)");
        continue;
      }
      const std::string root = (*ann)["model_signing_root"].get<std::string>();
      const bool directory = ann->contains("model_directory");
      const std::string want = directory ? HexEncode(*digest) : HexEncode(ModelSigningRoot({*digest}));
      if (root != want) {
        Add("subject", false, ptr + "/annotations/model_signing_root: " + root + " is not the subject's model_signing root (" + want + ")");
        continue;
      }
      for (const auto& [k, _] : ann->items()) {
        if (k != "model_signing_root" && k != "model_directory") Add("subject", false, ptr + "/annotations/" + k + ": unknown annotation");
      }
      if (!directory) continue;
      const json& md = (*ann)["model_directory"];
      if (!md.is_object() || !md.contains("files") || !md["files"].is_number_unsigned() || !md.contains("bytes") ||
          !md["bytes"].is_number_unsigned() || !md.contains("ignore_paths") || !md["ignore_paths"].is_array() ||
          (md.contains("run_model_file") && !md["run_model_file"].is_string())) {
        Add("subject", false, ptr + "/annotations/model_directory: expected {files, bytes, ignore_paths[, run_model_file]}");
        continue;
      }
      // Checked against a given directory with that root.
      for (const std::string& f : in.model_files) {
        auto it = dir_identity.find(f);
        if (it == dir_identity.end() || HexEncode(it->second.root) != root) continue;
        const ModelManifest& m = it->second;
        const bool same = md["files"] == m.files.size() && md["bytes"] == m.total_bytes() && md["ignore_paths"] == json(m.ignore_paths);
        bool run_file_ok = !md.contains("run_model_file");
        if (!run_file_ok) {
          const ModelFile* rf = m.Find(md["run_model_file"].get<std::string>());
          run_file_ok = rf != nullptr && pred["student"].is_object() &&
                        HexEncode(rf->sha256) == pred["student"].value("model_sha256", "");
        }
        Add("subject", same && run_file_ok,
            same && run_file_ok ? f + ": the directory's annotations (files, bytes, ignore paths, the run's model file) match it"
                                : f + ": " + ptr + "/annotations/model_directory does not describe this directory");
      }
    }

    // 3. The checkpoint and the inclusion proofs.
    const json& led = pred["ledger"];
    auto cp = OpenCheckpoint(led["checkpoint"].get<std::string>(), in.key);
    if (!cp.ok()) {
      Add("checkpoint", false, "the signed checkpoint does not verify: " + cp.status().message());
      return;
    }
    if (cp->size != led["tree_size"].get<uint64_t>() || cp->origin != led["origin"].get<std::string>()) {
      Add("checkpoint", false, "the signed checkpoint is for " + cp->origin + " size " + std::to_string(cp->size) +
                                   ", the predicate claims " + led["origin"].get<std::string>() + " size " +
                                   std::to_string(led["tree_size"].get<uint64_t>()));
      return;
    }
    Add("checkpoint", true, "signed checkpoint of " + cp->origin + " at size " + std::to_string(cp->size) + " verifies");
    std::map<std::string, std::vector<json>> by_role;
    std::map<std::string, uint64_t> index_of;
    std::map<uint64_t, Hash> run_entries;  // index → leaf hash of every proven entry but the decision and run_end
    bool all_included = true;
    for (const json& e : led["entries"]) {
      const std::string role = e["role"];
      const uint64_t index = e["index"];
      const std::string name = "entry:" + role + "@" + std::to_string(index);
      Status s = VerifyProvenEntry(e, *cp);
      const size_t proof_len = e["proof"].size();
      Add(name, s, "included in the signed checkpoint (" + std::to_string(proof_len) + " proof hashes)");
      all_included &= s.ok();
      by_role[role].push_back(e["entry"]["body"]);
      index_of[role] = index;
      if (role != "decision" && role != "run_end") {
        if (auto leaf = HashFromBase64(e["leaf_hash"].get<std::string>())) run_entries[index] = *leaf;
      }
    }
    if (!all_included) return;  // the facts below would rest on unproven entries

    // 4. The facts: the predicate's summary must be what the proven entries say.
    for (const char* role : {"decision", "run_start", "model", "run_end"}) {
      if (by_role[role].size() != 1) {
        Add("facts", false, std::string("the bundle must prove exactly one ") + role + " entry, it has " +
                                std::to_string(by_role[role].size()));
        return;
      }
    }
    const json& dec = by_role["decision"][0];
    const json& start = by_role["run_start"][0];
    const json& model = by_role["model"][0];
    const json& end = by_role["run_end"][0];
    std::vector<std::string> bad;
    auto expect = [&](bool cond, const std::string& what) {
      if (!cond) bad.push_back(what);
    };
    const std::string run = pred["run"];
    const std::string job_sha = dec.value("inputs", json::object()).value("job_sha256", "");
    expect(RunIdFor(job_sha, index_of["decision"]) == run, "run id " + run + " is not the decided job's (" + RunIdFor(job_sha, index_of["decision"]) + ")");
    for (const auto& [role, bodies] : by_role) {
      if (role == "decision") continue;
      for (const json& b : bodies) expect(b.value("run", "") == run, role + " entry belongs to run " + b.value("run", ""));
    }
    // The run's complete entry set: run_end commits to the count and root of
    // its entries (teacher calls aside, which have their own root); the
    // bundle must prove every one, between the decision and run_end.
    const json committed = end.value("entries", json());
    if (!committed.is_object() || !committed.contains("count") || !committed.contains("root")) {
      bad.push_back("run_end does not commit to the run's entries (a ledger written before the commitment existed): "
                    "the bundle could leave entries out");
    } else {
      CompactRange range;
      for (const auto& [index, leaf] : run_entries) {
        range.Append(leaf, nullptr);
        expect(index > index_of["decision"] && index < index_of["run_end"],
               "entry " + std::to_string(index) + " is not between the decision and run_end");
      }
      const uint64_t count = committed.value("count", uint64_t{0});
      expect(run_entries.size() == count && Base64Encode(range.Root()) == committed.value("root", ""),
             "the bundle proves " + std::to_string(run_entries.size()) + " of the run's entries, run_end commits to " +
                 std::to_string(count) + (run_entries.size() == count ? " with another root" : "") +
                 ": entries are missing or extra");
    }
    expect(start.value("decision_index", uint64_t(-1)) == index_of["decision"], "run_start names another decision");
    expect(start.value("job_sha256", "") == job_sha, "run_start names another job");
    expect(ParseRunStatus(end.value("status", "")) == RunStatus::kCompleted,
           "run_end status is " + end.value("status", std::string("missing")));
    expect(end.value("model_sha256", "") == model.value("sha256", ""), "run_end and model entries record different model hashes");
    // Every fact of the predicate is recomputed from the proven entries
    // (only the builder's version is informational).
    json derived = DerivePredicate(dec, start, by_role["dataset_manifest"], model, end);
    json claimed = pred;
    claimed.erase("ledger");
    derived["runDetails"]["builder"].erase("version");
    if (claimed["runDetails"].contains("builder")) claimed["runDetails"]["builder"].erase("version");
    for (auto it = derived.begin(); it != derived.end(); ++it) {
      if (!claimed.contains(it.key()) || claimed[it.key()] != it.value()) {
        bad.push_back("predicate." + it.key() + " is not what the proven entries say");
      }
    }
    for (auto it = claimed.begin(); it != claimed.end(); ++it) {
      if (!derived.contains(it.key())) bad.push_back("predicate." + it.key() + " is not a distillgate fact");
    }
    Add("facts", bad.empty(), bad.empty() ? "the predicate's summary agrees with the proven ledger entries" : Join(bad));

    // The model file is the run's model, not merely a subject.
    const std::string model_sha = model.value("sha256", "");
    bool model_given = false;
    for (const auto& [f, hex] : file_digest) model_given |= hex == model_sha;
    Add("model", model_given,
        model_given ? "a --model file is the model the run recorded (sha256 " + model_sha.substr(0, 16) + "…)"
                    : "no --model file is the model the run recorded (sha256 " + model_sha + ")");

    // 5. The job: disclosed in the decision, bound by its hash.
    json job_doc = dec.value("job_document", json());
    if (!job_doc.is_object()) {
      Add("job", false, "the decision entry does not disclose its job (ledger written before job_document was recorded)");
    } else {
      auto canon = Canonicalize(job_doc);
      const bool ok = canon.ok() && HexEncode(Sha256(*canon)) == job_sha &&
                      pred["buildDefinition"]["externalParameters"]["job"] == job_doc;
      Add("job", ok, ok ? "the disclosed job hashes to the decision's job_sha256"
                        : "the disclosed job does not hash to the decision's job_sha256, or the predicate shows another job");
    }

    // 6. The decision allowed training: its verdict, or the approvals of a
    // needs-review verdict, checked in the ledger under the policy's keys.
    const std::string verdict = dec.value("verdict", "");
    const std::optional<Verdict> parsed = ParseVerdict(verdict);
    std::string approval_detail;
    approved_ = DecisionApproved(dec);
    if (approved_) approval_detail = ApprovalsHold(dec, index_of["decision"]);
    const bool allowed = parsed && (VerdictAllows(*parsed) || (approved_ && approvals_hold_));
    Add("decision", allowed,
        "the gate's verdict was " + verdict + " (" + dec.value("mode", "") + " mode" +
            (dec.value("rests_on_unverified_facts", false) ? ", resting on unverified license facts" : "") + ")" +
            (approved_ ? "; " + approval_detail : ""));

    // 7. Obligations: checked where the bundle can tell.
    for (const json& o : dec.value("obligations", json::array())) {
      const std::string kind = o.value("kind", ""), status = o.value("status", "");
      const std::string name = "obligation:" + kind;
      if (kind == "name_prefix") {
        const std::string prefix = o.value("value", "");
        const std::string student = model.value("student", "");
        const bool met = !prefix.empty() && student.compare(0, prefix.size(), prefix) == 0;
        Add(name, met, "the student \"" + student + "\" " + (met ? "begins" : "does not begin") + " with \"" + prefix + "\" (" + o.value("license", "") + ")");
      } else if (status == "unmet") {
        Add(name, false, o.value("text", "") + " — recorded as unmet");
      } else {
        Add(name, true, o.value("text", "") + " — owed by whoever distributes the student; not checkable from the bundle", true);
      }
    }

    // 8. The run is the decided job's run: its teachers, data and student are
    // the ones the decision judged.
    if (job_doc.is_object()) TiedToJob(job_doc, start, by_role["dataset_manifest"], model);

    // 9. The verifier's own knowledge base and policy (the default policy
    // unless one is given): the recorded verdict may not be more permissive
    // than what they decide now, nor omit an obligation they derive.
    if (job_doc.is_object()) {
      RePolicy(job_doc, parsed, dec.value("obligations", json::array()));
      KeyHolderFacts(job_doc);
    }

    // 10. The ledger itself.
    if (in.ledger != nullptr) AgainstLedger(*cp, end, run);
  }

  // The run_start, manifests and model entry against the disclosed job: a
  // run whose teacher, data or student the decision never judged is not
  // covered by it, whatever the decision said.
  void TiedToJob(const json& job_doc, const json& start, const std::vector<json>& manifests, const json& model) {
    std::vector<std::string> bad;
    std::map<std::string, std::string> teacher_license, dataset_license;
    for (const json& t : job_doc.value("teachers", json::array())) teacher_license[t.value("id", "")] = t.value("license", "");
    for (const json& d : job_doc.value("datasets", json::array())) dataset_license[d.value("id", "")] = d.value("license", "");
    auto teacher = [&](const json& t, const std::string& where) {
      if (!t.is_object()) {
        bad.push_back(where + " is not an object");
        return;
      }
      const std::string id = t.value("id", "");
      auto it = teacher_license.find(id);
      if (it == teacher_license.end()) {
        bad.push_back(where + " names teacher \"" + id + "\", which the decided job does not have");
      } else if (t.value("license", "") != it->second) {
        bad.push_back(where + " records teacher \"" + id + "\" under " + t.value("license", std::string("no license")) +
                      ", the decided job under " + it->second);
      }
    };
    if (start.contains("teacher")) teacher(start["teacher"], "run_start.teacher");
    for (const json& t : start.value("api_teachers", json::array())) teacher(t, "run_start.api_teachers");
    for (const json& m : manifests) {
      // A dataset's manifest is named by its id, or id:part for a split (fmnist:train).
      const std::string name = m.value("dataset", "");
      auto it = dataset_license.find(name);
      if (const size_t colon = name.rfind(':'); it == dataset_license.end() && colon != std::string::npos) {
        it = dataset_license.find(name.substr(0, colon));
      }
      if (it == dataset_license.end()) {
        bad.push_back("dataset_manifest \"" + name + "\" is not a dataset of the decided job");
      } else if (m.value("license", "") != it->second) {
        bad.push_back("dataset_manifest \"" + name + "\" records " + m.value("license", std::string("no license")) +
                      ", the decided job " + it->second);
      }
    }
    const std::string student = job_doc.value("student", json::object()).value("name", "");
    if (model.value("student", "") != student) {
      bad.push_back("the model entry's student \"" + model.value("student", "") + "\" is not the decided job's (\"" + student + "\")");
    }
    Add("run-matches-job", bad.empty(),
        bad.empty() ? "the run's teachers, dataset manifests and student are the decided job's, under the licenses it declared"
                    : Join(bad));
  }

  // Whether the approvals a needs-review decision ran on hold: each is an
  // approval entry of the ledger, before the decision, that the policy's
  // approvers signed (policy/approval.h), and there are as many as the
  // policy requires. "approved by …" when they hold, else why not.
  std::string ApprovalsHold(const json& dec, uint64_t decision_index) {
    approvals_hold_ = false;
    std::string who;
    for (const json& a : dec.contains("approvals") && dec["approvals"].is_array() ? dec["approvals"] : json::array()) {
      auto text = [&a](const char* k) { return a.is_object() && a.contains(k) && a[k].is_string() ? a[k].get<std::string>() : "?"; };
      who += (who.empty() ? "" : ", ") + text("approver") + " (" + text("role") + ", " + text("approved_at") + ")";
    }
    if (in.ledger == nullptr || in.policy == nullptr) {
      return "recorded as approved by " + who + "; approvals are checked only against the ledger (--ledger) and the policy that names the "
             "approvers' keys (--policy)";
    }
    const json inputs = dec.contains("inputs") && dec["inputs"].is_object() ? dec["inputs"] : json::object();
    const std::string policy_sha = inputs.contains("policy_sha256") && inputs["policy_sha256"].is_string() ? inputs["policy_sha256"].get<std::string>() : "";
    const std::string job_sha = inputs.contains("job_sha256") && inputs["job_sha256"].is_string() ? inputs["job_sha256"].get<std::string>() : "";
    if (policy_sha != in.policy->sha256) return "recorded as approved by " + who + " under another policy than --policy: the approvals are not checked";
    if (in.policy->mode != PolicyMode::kEnforce || in.policy->approvals_for_review <= 0) {
      return "recorded as approved by " + who + ", but the policy requires no approvals: the gate never approves under it";
    }
    auto found = FindApprovals(*in.ledger, *in.policy, job_sha, dec.contains("findings") ? dec["findings"] : json());
    if (!found.ok()) return "the approvals could not be read: " + found.status().message();
    std::set<uint64_t> valid;  // one per approver key (FindApprovals), before the decision
    for (const json& a : *found) {
      if (a["ledger_index"].get<uint64_t>() < decision_index) valid.insert(a["ledger_index"].get<uint64_t>());
    }
    std::set<uint64_t> listed;
    for (const json& a : dec.contains("approvals") && dec["approvals"].is_array() ? dec["approvals"] : json::array()) {
      if (!a.is_object() || !a.contains("ledger_index") || !a["ledger_index"].is_number_unsigned() ||
          valid.count(a["ledger_index"].get<uint64_t>()) == 0) {
        return "an approval the decision lists is not a signed approval of this job in the ledger before the decision";
      }
      listed.insert(a["ledger_index"].get<uint64_t>());
    }
    if (listed.size() < static_cast<size_t>(in.policy->approvals_for_review)) {
      return std::to_string(listed.size()) + " distinct approvals hold; the policy requires " + std::to_string(in.policy->approvals_for_review);
    }
    approvals_hold_ = true;
    return "approved by " + who + ": each approval's signature verifies under the policy's approver key and its entry is in the ledger";
  }
  bool approved_ = false, approvals_hold_ = false;

  void RePolicy(json job_doc, std::optional<Verdict> recorded, const json& recorded_obligations) {
    // Model cards are files beside the job that the bundle does not carry:
    // the declared licenses are evaluated (the original decision checked the cards).
    bool dropped_cards = false;
    std::set<std::string> carded;  // subjects whose evidence the bundle lacks
    for (json& t : job_doc["teachers"]) {
      if (t.erase("model_card") > 0) {
        dropped_cards = true;
        carded.insert("teacher:" + t.value("id", ""));
      }
    }
    StatusOr<Policy> default_policy = Status::Internal("unused");
    const Policy* policy = in.policy;
    if (policy == nullptr) {
      default_policy = DefaultPolicy();
      if (!default_policy.ok()) {
        Add("policy", false, default_policy.status().message());
        return;
      }
      policy = &*default_policy;
    }
    const std::string whose = in.policy != nullptr ? "your policy" : "the default policy";
    auto job = ParseJob(job_doc, "the disclosed job");
    auto kb = KnowledgeBase::Builtin();
    if (!job.ok() || !kb.ok()) {
      Add("policy", false, "the recorded job cannot be evaluated again: " + (!job.ok() ? job.status().message() : kb.status().message()));
      return;
    }
    auto d = Evaluate(*job, *policy, **kb, TodayUtc());
    if (!d.ok()) {
      Add("policy", false, d.status().message());
      return;
    }
    // A needs-review verdict whose approvals hold (checked above) allows.
    const bool allows = VerdictAllows(d->verdict) || (d->verdict == Verdict::kNeedsReview && approvals_hold_);
    const bool not_more_permissive = recorded && VerdictRank(*recorded) >= VerdictRank(d->verdict);
    std::string detail = "evaluated again with this build's knowledge base and " + whose + ": " + VerdictName(d->verdict) +
                         "; recorded: " + (recorded ? VerdictName(*recorded) : "no verdict");
    if (allows && !not_more_permissive) detail += " (the recorded verdict is more permissive: it omits obligations)";
    for (const auto& f : d->findings) {
      if (f.waived || f.severity == "warning") continue;
      detail += "; " + f.severity + " " + f.rule + " (" + f.subject + "): " + f.message;
    }
    // Every obligation derived now must be among the recorded ones (same
    // kind, license and subject): a decision that dropped one is wrong.
    std::vector<std::string> omitted;
    for (const auto& o : d->obligations) {
      if (carded.count(o.subject)) continue;  // the card may have narrowed the license: not comparable
      bool found = false;
      for (const json& r : recorded_obligations) {
        found |= r.value("kind", "") == o.kind && r.value("license", "") == o.license && r.value("subject", "") == o.subject;
      }
      if (!found) omitted.push_back(o.kind + " (" + o.license + ", " + o.subject + ")");
    }
    if (!omitted.empty()) detail += "; the recorded decision omits obligations: " + Join(omitted);
    if (dropped_cards) detail += " (declared licenses; model-card evidence is not in the bundle)";
    Add("policy", allows && not_more_permissive && omitted.empty(), detail);
  }

  // What the verdict rests on that only the key holder vouches for: the
  // job's declared facts and any waiver the recorded decision applied.
  void KeyHolderFacts(const json& job_doc) {
    std::vector<std::string> facts;
    for (const json& t : job_doc.value("teachers", json::array())) {
      facts.push_back("teacher " + t.value("id", "") + " is under " + t.value("license", "") +
                      (t.contains("base_model") ? " with base " + t["base_model"].dump() : std::string(" with no base stated")));
    }
    const json use = job_doc.value("use", json::object());
    for (auto it = use.begin(); it != use.end(); ++it) facts.push_back("/use/" + it.key() + " = " + it.value().dump());
    for (const char* f : {"expected_mau", "monthly_revenue_usd", "domicile", "markets", "competes_with"}) {
      if (!use.contains(f)) facts.push_back(std::string("/use/") + f + " not stated");
    }
    if (const json s = job_doc.value("student", json::object()); s.contains("base_model")) {
      facts.push_back("the student's base " + s["base_model"].dump());
    }
    for (const json& d : job_doc.value("datasets", json::array())) {
      facts.push_back("dataset " + d.value("id", "") + " is under " + d.value("license", ""));
    }
    std::string detail = "taken on the key holder's word (a verifier cannot check them from the bundle): ";
    for (size_t i = 0; i < facts.size(); ++i) detail += (i ? "; " : "") + facts[i];
    Add("declared-facts", true, detail, true);
  }

  void AgainstLedger(const Checkpoint& cp, const json& end, const std::string& run) {
    Ledger& l = *in.ledger;
    Ledger::ReadSnapshot snap(l);
    if (l.origin() != cp.origin) {
      Add("ledger", false, l.path() + " is the ledger " + l.origin() + ", not " + cp.origin);
      return;
    }
    auto head_note = l.HeadNote();
    auto head = head_note.ok() ? OpenCheckpoint(*head_note, in.key) : StatusOr<Checkpoint>(head_note.status());
    if (!head.ok()) {
      Add("ledger", false, "the ledger's head checkpoint does not verify under the pinned key: " + head.status().message());
      return;
    }
    Status s = Status::Ok();
    if (head->size < cp.size) {
      s = Status::VerifyFailed("the ledger holds " + std::to_string(head->size) + " entries, fewer than the bundle's checkpoint (" +
                               std::to_string(cp.size) + "): rolled back or another ledger");
    } else {
      auto proof = l.ConsistencyProof(cp.size, head->size);
      s = proof.ok() ? VerifyConsistency(cp.size, head->size, *proof, cp.root, head->root) : proof.status();
    }
    Add("ledger", s, "the bundle's checkpoint (size " + std::to_string(cp.size) + ") is consistent with the ledger's head (size " +
                         std::to_string(head->size) + ")");
    if (!s.ok()) return;
    auto rec = LoadRunRecord(l, run);
    if (!rec.ok()) {
      Add("teacher_calls", false, rec.status().message());
      return;
    }
    const bool ok = end.value("teacher_calls", uint64_t{0}) == rec->teacher_calls &&
                    end.value("teacher_calls_root", "") == Base64Encode(rec->TeacherCallsRoot());
    Add("teacher_calls", ok,
        ok ? "the ledger's " + std::to_string(rec->teacher_calls) + " teacher_call entries hash to the recorded root"
           : "the ledger holds " + std::to_string(rec->teacher_calls) + " teacher_call entries with root " +
                 Base64Encode(rec->TeacherCallsRoot()) + ", run_end records " +
                 std::to_string(end.value("teacher_calls", uint64_t{0})) + " with root " + end.value("teacher_calls_root", ""));
    const json committed = end.value("entries", json::object());
    const bool entries_ok = committed.value("count", uint64_t{0}) == rec->entry_leaves.size() &&
                            committed.value("root", "") == Base64Encode(rec->EntriesRoot()) && rec->entries_after_end == 0;
    Add("run_entries", entries_ok,
        entries_ok ? "the ledger's " + std::to_string(rec->entry_leaves.size()) + " entries of the run are the set run_end commits to"
                   : "the ledger holds " + std::to_string(rec->entry_leaves.size()) + " entries of the run before run_end (" +
                         std::to_string(rec->entries_after_end) + " after it); run_end commits to " +
                         std::to_string(committed.value("count", uint64_t{0})));
  }

  static std::string Join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : "; ") + s;
    return out;
  }
};

}  // namespace

StatusOr<ClaimReport> VerifyClaim(const ClaimInputs& in) {
  for (const std::string& f : in.model_files) {
    if (!FileExists(f)) return Status::InvalidInput(f + ": no such model file or directory");
  }
  Verifier v{in, {}, Status::Ok()};
  try {
    v.Run();
  } catch (const json::exception& e) {
    // Signed and included, but not the shape distillgate writes.
    v.Add("facts", false, std::string("a proven entry is malformed: ") + e.what());
  }
  if (!v.malformed.ok()) return v.malformed;
  return v.report;
}

}  // namespace dg
