#include "attest/data_proof.h"

#include <algorithm>

#include "core/canonical_json.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "core/json_schema.h"
#include "ledger/checkpoint.h"
#include "ledger/merkle.h"
#include "attest/claim_verify.h"
#include "record/idx.h"
#include "record/manifest.h"
#include "record/run_record.h"

namespace dg {

using json = nlohmann::json;

namespace {

constexpr char kFormat[] = "distillgate-data-proof-v1";

bool StartsWith(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// The manifest of the data as it is now, by the recorded record format.
StatusOr<DatasetManifest> Rederive(const RunRecord& r, const json& body, const std::string& data_path) {
  const std::string id = body.value("dataset", ""), license = body.value("license", "");
  const std::string format = body.value("record_format", "");
  const json files = body.value("files", json::array());
  if (StartsWith(format, "idx-image")) {
    const size_t colon = id.rfind(':');
    const std::string prefix = colon == std::string::npos ? "train" : id.substr(colon + 1);
    const std::string dir = !data_path.empty() ? data_path
                            : files.empty()     ? std::string()
                                                : DirName(files[0].value("path", ""));
    DG_ASSIGN_OR_RETURN(ImageSet set, ReadImageSet(dir, prefix));
    return ManifestImageSet(id, license, dir, prefix, set, body.value("records", size_t{0}));
  }
  std::string path = data_path;
  if (path.empty() && !files.empty()) path = files[0].value("path", "");
  if (path.empty()) {  // a directory: the job names it
    for (const json& d : r.decision.body["job_document"].value("datasets", json::array())) {
      if (d.value("id", "") == id) path = d.value("path", "");
    }
  }
  if (path.empty()) return Status::InvalidInput("dataset " + id + ": the ledger does not say where it is; give --data PATH");
  return ManifestPath(id, license, path);
}

const RecordedEntry* PickManifest(const RunRecord& r, const std::string& dataset) {
  std::string want = dataset;
  if (want.empty()) {
    const json ds = r.decision.body.contains("job_document") ? r.decision.body["job_document"].value("datasets", json::array()) : json::array();
    if (!ds.empty()) want = ds[0].value("id", "") + ":train";
  }
  for (const auto& m : r.manifests) {
    if (m.body.value("dataset", "") == want) return &m;
  }
  if (dataset.empty() && r.manifests.size() == 1) return &r.manifests[0];
  return nullptr;
}

}  // namespace

StatusOr<json> ProveRecord(Ledger& ledger, const DataProveOptions& o) {
  if (o.index.has_value() == o.record.has_value()) {
    return Status::InvalidInput("data prove: give exactly one of --index N and --record FILE");
  }
  DG_ASSIGN_OR_RETURN(RunRecord r, LoadRunRecord(ledger, o.run_id));
  const RecordedEntry* m = PickManifest(r, o.dataset);
  if (m == nullptr) {
    std::string names;
    for (const auto& x : r.manifests) names += (names.empty() ? "" : ", ") + x.body.value("dataset", "");
    return Status::InvalidInput("run " + r.run_id + " recorded no dataset " +
                                (o.dataset.empty() ? std::string("training split") : "\"" + o.dataset + "\"") +
                                (names.empty() ? std::string(" (it recorded none)") : " (it recorded: " + names + "); give --dataset"));
  }
  DG_ASSIGN_OR_RETURN(DatasetManifest now, Rederive(r, m->body, o.data_path));
  const std::string root = Base64Encode(now.root);
  if (root != m->body.value("records_root", "") || now.record_leaves.size() != m->body.value("records", size_t{0})) {
    return Status::VerifyFailed("dataset " + m->body.value("dataset", "") + ": the data now has " +
                                std::to_string(now.record_leaves.size()) + " records with root " + root +
                                ", the run recorded " + std::to_string(m->body.value("records", size_t{0})) +
                                " with root " + m->body.value("records_root", "") + ": it changed since the run");
  }
  uint64_t index = 0;
  if (o.index) {
    if (*o.index >= now.record_leaves.size()) {
      return Status::InvalidInput("--index " + std::to_string(*o.index) + ": the dataset has " +
                                  std::to_string(now.record_leaves.size()) + " records");
    }
    index = *o.index;
  } else {
    const Hash leaf = LeafHash(*o.record);
    auto it = std::find(now.record_leaves.begin(), now.record_leaves.end(), leaf);
    if (it == now.record_leaves.end()) {
      return Status::VerifyFailed("the record (leaf hash " + Base64Encode(leaf) + ") is not in dataset " +
                                  m->body.value("dataset", "") + " of run " + r.run_id + " (" +
                                  std::to_string(now.record_leaves.size()) + " records)");
    }
    index = static_cast<uint64_t>(it - now.record_leaves.begin());
  }
  DG_ASSIGN_OR_RETURN(std::vector<Hash> path, now.ProveRecord(index));
  json hashes = json::array();
  for (const Hash& h : path) hashes.push_back(Base64Encode(h));
  json out = {{"format", kFormat},
              {"run", r.run_id},
              {"dataset", m->body.value("dataset", "")},
              {"license", m->body.value("license", "")},
              {"record_format", m->body.value("record_format", "")},
              {"manifest_index", m->index},
              {"records", now.record_leaves.size()},
              {"records_root", root},
              {"record_index", index},
              {"record_leaf_hash", Base64Encode(now.record_leaves[index])},
              {"proof", hashes}};
  if (o.disclose) {
    if (o.record) {
      out["record"] = Base64Encode(*o.record);
    } else {
      return Status::InvalidInput("--disclose needs --record FILE (the prover's copy of the record's bytes)");
    }
  }
  return out;
}

StatusOr<DataVerifyResult> VerifyRecordProof(const json& proof, const json& envelope, const NoteVerifier& key,
                                             const std::optional<std::string>& record, const std::string& where) {
  DG_ASSIGN_OR_RETURN(auto schema, JsonSchema::Builtin("data-proof.schema.json"));
  DG_RETURN_IF_ERROR(schema->Validate(proof, where));
  DG_ASSIGN_OR_RETURN(json st, OpenStatement(envelope, key, "bundle"));
  const json& pred = st["predicate"];
  if (pred["run"] != proof["run"]) {
    return Status::VerifyFailed(where + ": /run: the proof is for run " + proof["run"].get<std::string>() +
                                ", the bundle attests run " + pred["run"].get<std::string>());
  }
  auto cp = OpenCheckpoint(pred["ledger"]["checkpoint"].get<std::string>(), key);
  if (!cp.ok()) return Status::VerifyFailed("bundle: the signed checkpoint does not verify: " + cp.status().message());
  if (cp->size != pred["ledger"]["tree_size"].get<uint64_t>()) {
    return Status::VerifyFailed("bundle: the signed checkpoint's size is not predicate.ledger.tree_size");
  }
  const json* manifest = nullptr;
  for (const json& e : pred["ledger"]["entries"]) {
    if (e["role"] == "dataset_manifest" && e["index"] == proof["manifest_index"]) manifest = &e;
  }
  if (manifest == nullptr) {
    return Status::VerifyFailed(where + ": /manifest_index: the bundle proves no dataset_manifest entry " +
                                proof["manifest_index"].dump());
  }
  DG_RETURN_IF_ERROR(VerifyProvenEntry(*manifest, *cp).WithContext("bundle: dataset_manifest entry"));
  const json& body = (*manifest)["entry"]["body"];
  // Every fact the proof states about its dataset is the signed manifest's:
  // a proof may not relabel the data's license or record format.
  for (const char* field : {"dataset", "license", "record_format", "records", "records_root"}) {
    if (body.value(field, json()) != proof[field]) {
      return Status::VerifyFailed(where + ": /" + field + ": " + proof[field].dump() + " is not the manifest's " +
                                  body.value(field, json()).dump());
    }
  }
  const Hash leaf = *HashFromBase64(proof["record_leaf_hash"].get<std::string>());
  std::vector<Hash> path;
  for (const json& h : proof["proof"]) path.push_back(*HashFromBase64(h.get<std::string>()));
  const auto root = *HashFromBase64(proof["records_root"].get<std::string>());
  DG_RETURN_IF_ERROR(VerifyInclusion(proof["record_index"].get<uint64_t>(), proof["records"].get<uint64_t>(), leaf,
                                     path, root)
                         .WithContext(where + ": the record's inclusion proof"));
  if (proof.contains("record")) {
    auto bytes = Base64Decode(proof["record"].get<std::string>());
    if (!bytes || LeafHash(*bytes) != leaf) {
      return Status::VerifyFailed(where + ": /record: the disclosed bytes do not hash to record_leaf_hash");
    }
  }
  if (record && LeafHash(*record) != leaf) {
    return Status::VerifyFailed("the given record is not the proven one (its leaf hash is " +
                                Base64Encode(LeafHash(*record)) + ", the proof is for " +
                                proof["record_leaf_hash"].get<std::string>() + ")");
  }
  DataVerifyResult r;
  r.dataset = proof["dataset"];
  r.license = proof["license"];
  r.record_format = proof["record_format"];
  r.run = proof["run"];
  r.record_index = proof["record_index"];
  r.records = proof["records"];
  return r;
}

}  // namespace dg
