#include "ledger/proof_bundle.h"

#include "core/canonical_json.h"
#include "core/encoding.h"
#include "core/json_schema.h"
#include "ledger/merkle.h"

namespace dg {
namespace {

using json = nlohmann::json;

json HashList(const std::vector<Hash>& hs) {
  json a = json::array();
  for (const Hash& h : hs) a.push_back(Base64Encode(h));
  return a;
}

Status Bad(const std::string& where, const std::string& pointer, const std::string& expected) {
  return Status::InvalidInput(where + ": " + pointer + ": expected " + expected);
}

StatusOr<uint64_t> GetSize(const json& j, const std::string& key, const std::string& where) {
  if (!j.contains(key)) return Bad(where, "/" + key, "a non-negative integer (missing)");
  const json& v = j[key];
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
  return Bad(where, "/" + key, "a non-negative integer");
}

StatusOr<Hash> GetHash(const json& v, const std::string& pointer, const std::string& where) {
  if (!v.is_string()) return Bad(where, pointer, "a base64 SHA-256 hash string");
  auto h = HashFromBase64(v.get<std::string>());
  if (!h) return Bad(where, pointer, "the standard base64 of exactly 32 bytes");
  return *h;
}

StatusOr<std::vector<Hash>> GetHashList(const json& j, const std::string& where) {
  if (!j.contains("proof") || !j["proof"].is_array()) return Bad(where, "/proof", "an array of base64 hashes");
  std::vector<Hash> out;
  for (size_t i = 0; i < j["proof"].size(); ++i) {
    DG_ASSIGN_OR_RETURN(Hash h, GetHash(j["proof"][i], "/proof/" + std::to_string(i), where));
    out.push_back(h);
  }
  return out;
}

}  // namespace

StatusOr<InclusionBundle> MakeInclusionBundle(Ledger& ledger, uint64_t index, std::optional<uint64_t> tree_size) {
  Ledger::ReadSnapshot snapshot(ledger);
  DG_ASSIGN_OR_RETURN(uint64_t head, ledger.Size());
  InclusionBundle b;
  b.tree_size = tree_size.value_or(head);
  b.leaf_index = index;
  if (b.tree_size > head) {
    return Status::InvalidInput("tree size " + std::to_string(b.tree_size) + " exceeds the ledger's size " +
                                std::to_string(head));
  }
  if (index >= b.tree_size) {
    return Status::InvalidInput("entry " + std::to_string(index) + " is not in a tree of size " +
                                std::to_string(b.tree_size));
  }
  DG_ASSIGN_OR_RETURN(b.checkpoint, ledger.CheckpointNote(b.tree_size));
  DG_ASSIGN_OR_RETURN(StoredLeaf leaf, ledger.GetLeaf(index));
  b.leaf_hash = leaf.leaf_hash;
  auto parsed = ParseJsonStrict(leaf.data, "ledger entry " + std::to_string(leaf.index));
  json entry = parsed.ok() ? std::move(parsed).value() : json(json::value_t::discarded);
  if (!entry.is_discarded()) b.entry = std::move(entry);
  DG_ASSIGN_OR_RETURN(b.proof, ledger.InclusionProof(index, b.tree_size));
  return b;
}

StatusOr<ConsistencyBundle> MakeConsistencyBundle(Ledger& ledger, uint64_t old_size, std::optional<uint64_t> new_size) {
  Ledger::ReadSnapshot snapshot(ledger);
  DG_ASSIGN_OR_RETURN(uint64_t head, ledger.Size());
  ConsistencyBundle b;
  b.old_size = old_size;
  b.new_size = new_size.value_or(head);
  if (b.new_size > head) {
    return Status::InvalidInput("new size " + std::to_string(b.new_size) + " exceeds the ledger's size " +
                                std::to_string(head));
  }
  DG_ASSIGN_OR_RETURN(b.proof, ledger.ConsistencyProof(b.old_size, b.new_size));
  return b;
}

json ToJson(const InclusionBundle& b) {
  json j = {{"leaf_index", b.leaf_index},
            {"tree_size", b.tree_size},
            {"leaf_hash", Base64Encode(b.leaf_hash)},
            {"proof", HashList(b.proof)},
            {"checkpoint", b.checkpoint}};
  if (b.entry) j["entry"] = *b.entry;
  return j;
}

json ToJson(const ConsistencyBundle& b) {
  return {{"old_size", b.old_size}, {"new_size", b.new_size}, {"proof", HashList(b.proof)}};
}

StatusOr<InclusionBundle> InclusionBundleFromJson(const json& j, const std::string& where) {
  DG_ASSIGN_OR_RETURN(auto schema, JsonSchema::Builtin("inclusion-proof.schema.json"));
  DG_RETURN_IF_ERROR(schema->Validate(j, where));
  InclusionBundle b;
  DG_ASSIGN_OR_RETURN(b.leaf_index, GetSize(j, "leaf_index", where));
  DG_ASSIGN_OR_RETURN(b.tree_size, GetSize(j, "tree_size", where));
  if (!j.contains("leaf_hash")) return Bad(where, "/leaf_hash", "a base64 SHA-256 hash (missing)");
  DG_ASSIGN_OR_RETURN(b.leaf_hash, GetHash(j["leaf_hash"], "/leaf_hash", where));
  DG_ASSIGN_OR_RETURN(b.proof, GetHashList(j, where));
  if (!j.contains("checkpoint") || !j["checkpoint"].is_string()) {
    return Bad(where, "/checkpoint", "the signed checkpoint note as a string");
  }
  b.checkpoint = j["checkpoint"].get<std::string>();
  if (j.contains("entry")) {
    if (!j["entry"].is_object()) return Bad(where, "/entry", "the entry object {\"body\":…,\"kind\":…}");
    b.entry = j["entry"];
  }
  return b;
}

StatusOr<ConsistencyBundle> ConsistencyBundleFromJson(const json& j, const std::string& where) {
  DG_ASSIGN_OR_RETURN(auto schema, JsonSchema::Builtin("consistency-proof.schema.json"));
  DG_RETURN_IF_ERROR(schema->Validate(j, where));
  ConsistencyBundle b;
  DG_ASSIGN_OR_RETURN(b.old_size, GetSize(j, "old_size", where));
  DG_ASSIGN_OR_RETURN(b.new_size, GetSize(j, "new_size", where));
  DG_ASSIGN_OR_RETURN(b.proof, GetHashList(j, where));
  return b;
}

StatusOr<Checkpoint> VerifyInclusionBundle(const InclusionBundle& b, const NoteVerifier& verifier) {
  DG_ASSIGN_OR_RETURN(Checkpoint cp, OpenCheckpoint(b.checkpoint, verifier));
  if (cp.size != b.tree_size) {
    return Status::VerifyFailed("checkpoint is for tree size " + std::to_string(cp.size) + ", the proof claims " +
                                std::to_string(b.tree_size));
  }
  if (b.entry) {
    auto canon = Canonicalize(*b.entry);
    if (!canon.ok()) return Status::VerifyFailed("disclosed entry: " + canon.status().message());
    if (LeafHash(*canon) != b.leaf_hash) return Status::VerifyFailed("disclosed entry does not hash to leaf_hash");
  }
  DG_RETURN_IF_ERROR(VerifyInclusion(b.leaf_index, b.tree_size, b.leaf_hash, b.proof, cp.root)
                         .WithContext("inclusion proof"));
  return cp;
}

}  // namespace dg
