#include "model/model_signing.h"

#include <set>

#include "core/canonical_json.h"
#include "core/dsse.h"
#include "core/encoding.h"
#include "core/json_schema.h"
#include "core/x509.h"

namespace dg {
namespace {

using nlohmann::json;

constexpr char kInTotoPayloadType[] = "application/vnd.in-toto+json";
constexpr char kStatementType[] = "https://in-toto.io/Statement/v1";

// Python's repr() of a bytes object: what model_signing's pre-1.0 PAE put
// into the signed text in place of the payload (sign_sigstore_pb.pae_compat).
std::string PythonBytesRepr(std::string_view b) {
  const bool has_single = b.find('\'') != std::string_view::npos, has_double = b.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out = "b";
  out += quote;
  static const char* kHex = "0123456789abcdef";
  for (unsigned char c : b) {
    if (c == static_cast<unsigned char>(quote) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += quote;
  return out;
}

std::string CompatPae(std::string_view payload) {
  return "DSSEV1 " + std::to_string(std::string_view(kInTotoPayloadType).size()) + " " + kInTotoPayloadType + " " +
         std::to_string(payload.size()) + " " + PythonBytesRepr(payload);
}

Status UnknownKeys(const json& obj, const std::set<std::string>& known, const std::string& where, const std::string& ptr) {
  for (const auto& [k, _] : obj.items()) {
    if (!known.count(k)) {
      const std::string near = NearestKey(k, known);
      return Status::InvalidInput(where + ": " + ptr + "/" + EscapePointerToken(k) + ": unknown key" +
                                  (near.empty() ? "" : " (did you mean \"" + near + "\"?)"));
    }
  }
  return Status::Ok();
}

StatusOr<std::string> StringAt(const json& obj, const char* key, const std::string& where, const std::string& ptr) {
  if (!obj.is_object() || !obj.contains(key) || !obj[key].is_string()) {
    return Status::InvalidInput(where + ": " + ptr + "/" + key + ": expected a string");
  }
  return obj[key].get<std::string>();
}

StatusOr<Hash> HexDigest(const json& v, const std::string& where, const std::string& ptr) {
  std::optional<Hash> h;
  if (v.is_string()) h = HashFromHex(v.get<std::string>());
  if (!h) return Status::InvalidInput(where + ": " + ptr + ": expected a SHA-256 digest (64 hex digits)");
  return *h;
}

}  // namespace

ModelSigningTrust ModelSigningTrust::Key(EcPublicKey key) {
  ModelSigningTrust t;
  t.key_ = std::move(key);
  return t;
}

ModelSigningTrust ModelSigningTrust::Certificates(std::string trusted_pem) {
  ModelSigningTrust t;
  t.certificates_ = std::move(trusted_pem);
  return t;
}

json ModelSigningStatement(const ModelManifest& m) {
  json resources = json::array();
  for (const ModelFile& f : m.files) {
    resources.push_back({{"name", f.path}, {"algorithm", "sha256"}, {"digest", HexEncode(f.sha256)}});
  }
  json serialization = {{"method", "files"}, {"hash_type", "sha256"}, {"allow_symlinks", m.allow_symlinks}};
  if (!m.ignore_paths.empty()) serialization["ignore_paths"] = m.ignore_paths;
  return {{"_type", kStatementType},
          {"subject", {{{"name", m.name}, {"digest", {{"sha256", HexEncode(m.root)}}}}}},
          {"predicateType", kModelSigningPredicate},
          {"predicate", {{"serialization", serialization}, {"resources", resources}}}};
}

StatusOr<std::string> SignModelManifest(const ModelManifest& m, const EcPrivateKey& key) {
  const std::string payload = ModelSigningStatement(m).dump(2);
  DG_ASSIGN_OR_RETURN(std::string sig, key.Sign(DssePae(kInTotoPayloadType, payload)));
  const json bundle = {
      {"mediaType", kSigstoreBundleMediaType},
      {"verificationMaterial", {{"publicKey", {{"hint", HexEncode(Sha256(key.public_key().pem()))}}}, {"tlogEntries", json::array()}}},
      {"dsseEnvelope",
       {{"payload", Base64Encode(payload)},
        {"payloadType", kInTotoPayloadType},
        {"signatures", {{{"sig", Base64Encode(sig)}, {"keyid", ""}}}}}}};
  return bundle.dump() + "\n";
}

StatusOr<SignedModelManifest> ManifestFromModelSigningStatement(const json& st, const std::string& where) {
  SignedModelManifest out;
  if (!st.is_object()) return Status::InvalidInput(where + ": the signed payload is not a JSON object");
  DG_ASSIGN_OR_RETURN(std::string type, StringAt(st, "_type", where, ""));
  if (type != kStatementType) {
    return Status::VerifyFailed(where + ": /_type: expected in-toto " + std::string(kStatementType) + ", got " + type);
  }
  DG_ASSIGN_OR_RETURN(out.predicate_type, StringAt(st, "predicateType", where, ""));
  if (!st.contains("subject") || !st["subject"].is_array()) return Status::InvalidInput(where + ": /subject: expected an array");
  const json& subjects = st["subject"];
  if (out.predicate_type == kModelSigningPredicateCompat) {
    // v0.2: one subject per file, no root; a verifier of this form cannot
    // tell a file that was left out (model_signing PR #266).
    out.model_name = "compat-undefined-not-present";
    out.serialization = {{"method", "files"}, {"hash_type", "sha256"}, {"allow_symlinks", false}};
    for (size_t i = 0; i < subjects.size(); ++i) {
      const std::string p = "/subject/" + std::to_string(i);
      DG_ASSIGN_OR_RETURN(std::string name, StringAt(subjects[i], "name", where, p));
      if (!subjects[i].contains("digest") || !subjects[i]["digest"].is_object()) {
        return Status::InvalidInput(where + ": " + p + "/digest: expected an object");
      }
      DG_ASSIGN_OR_RETURN(Hash d, HexDigest(subjects[i]["digest"].value("sha256", json()), where, p + "/digest/sha256"));
      if (!out.resources.emplace(name, d).second) return Status::InvalidInput(where + ": " + p + ": \"" + name + "\" is named twice");
      out.resource_order.push_back(name);
    }
    out.root = Hash{};  // nothing signed a root: none is reported
    out.warnings.push_back("legacy predicate " + std::string(kModelSigningPredicateCompat) +
                           ": the files are signed one by one, with no root digest over the set");
    return out;
  }
  if (out.predicate_type != kModelSigningPredicate) {
    return Status::VerifyFailed(where + ": /predicateType: expected " + std::string(kModelSigningPredicate) + ", got " +
                                out.predicate_type);
  }
  if (subjects.size() != 1) {
    return Status::VerifyFailed(where + ": /subject: expected exactly one subject, got " + std::to_string(subjects.size()));
  }
  DG_ASSIGN_OR_RETURN(out.model_name, StringAt(subjects[0], "name", where, "/subject/0"));
  if (!subjects[0].contains("digest") || !subjects[0]["digest"].is_object()) {
    return Status::InvalidInput(where + ": /subject/0/digest: expected an object");
  }
  DG_ASSIGN_OR_RETURN(Hash expected_root, HexDigest(subjects[0]["digest"].value("sha256", json()), where, "/subject/0/digest/sha256"));
  if (!st.contains("predicate") || !st["predicate"].is_object()) return Status::InvalidInput(where + ": /predicate: expected an object");
  const json& pred = st["predicate"];
  if (!pred.contains("serialization") || !pred["serialization"].is_object()) {
    return Status::InvalidInput(where + ": /predicate/serialization: expected an object");
  }
  out.serialization = pred["serialization"];
  DG_ASSIGN_OR_RETURN(std::string method, StringAt(out.serialization, "method", where, "/predicate/serialization"));
  DG_ASSIGN_OR_RETURN(std::string hash_type, StringAt(out.serialization, "hash_type", where, "/predicate/serialization"));
  if (method != "files" && method != "shards") {
    return Status::InvalidInput(where + ": /predicate/serialization/method: unknown serialization \"" + method + "\"");
  }
  if (hash_type != "sha256") {
    return Status::InvalidInput(where + ": /predicate/serialization/hash_type: \"" + hash_type +
                                "\" is not supported here (only sha256); verify it with model_signing itself");
  }
  if (!pred.contains("resources") || !pred["resources"].is_array()) {
    return Status::InvalidInput(where + ": /predicate/resources: expected an array");
  }
  Sha256Hasher h;
  for (size_t i = 0; i < pred["resources"].size(); ++i) {
    const json& r = pred["resources"][i];
    const std::string p = "/predicate/resources/" + std::to_string(i);
    DG_ASSIGN_OR_RETURN(std::string name, StringAt(r, "name", where, p));
    DG_ASSIGN_OR_RETURN(std::string alg, StringAt(r, "algorithm", where, p));
    // model_signing names a shard's algorithm "sha256-sharded-<shard_size>".
    const std::string sharded = method == "shards" && out.serialization.contains("shard_size")
                                    ? "sha256-sharded-" + out.serialization["shard_size"].dump()
                                    : "";
    if (alg != "sha256" && (sharded.empty() || alg != sharded)) {
      return Status::InvalidInput(where + ": " + p + "/algorithm: \"" + alg + "\" (only sha256 is supported here)");
    }
    DG_ASSIGN_OR_RETURN(Hash d, HexDigest(r.value("digest", json()), where, p + "/digest"));
    if (method == "shards") {
      const size_t c2 = name.rfind(':'), c1 = c2 == std::string::npos || c2 == 0 ? std::string::npos : name.rfind(':', c2 - 1);
      if (c1 == std::string::npos) return Status::InvalidInput(where + ": " + p + "/name: a shard is named path:start:end");
    }
    if (!out.resources.emplace(name, d).second) return Status::InvalidInput(where + ": " + p + ": \"" + name + "\" is named twice");
    out.resource_order.push_back(name);
    h.Update(d.data(), d.size());
  }
  out.root = h.Finish();
  if (out.root != expected_root) {
    return Status::VerifyFailed(where + ": Manifest is inconsistent: the root digest is " + HexEncode(expected_root) +
                                ", but the included resources hash to " + HexEncode(out.root));
  }
  return out;
}

StatusOr<SignedModelManifest> VerifyModelSigningBundle(const std::string& text, const std::string& where,
                                                       const ModelSigningTrust& trust) {
  DG_ASSIGN_OR_RETURN(json b, ParseJsonStrict(text, where));
  if (!b.is_object()) return Status::InvalidInput(where + ": expected a Sigstore bundle (a JSON object)");
  DG_RETURN_IF_ERROR(UnknownKeys(b, {"mediaType", "verificationMaterial", "dsseEnvelope", "messageSignature"}, where, ""));
  DG_ASSIGN_OR_RETURN(std::string media, StringAt(b, "mediaType", where, ""));
  if (media != kSigstoreBundleMediaType) {
    return Status::InvalidInput(where + ": /mediaType: \"" + media + "\" (expected " + kSigstoreBundleMediaType + ")");
  }
  if (!b.contains("verificationMaterial") || !b["verificationMaterial"].is_object()) {
    return Status::InvalidInput(where + ": /verificationMaterial: expected an object");
  }
  const json& vm = b["verificationMaterial"];
  SignedModelManifest out;
  std::vector<std::string> warnings;
  // The signer's key: named by hint (key mode) or by a certificate chain.
  std::optional<EcPublicKey> signer;
  bool v02_hash = false;  // certificate mode's pre-1.0 signatures used SHA-256 whatever the curve
  if (vm.contains("certificate")) {
    return Status::InvalidInput(where + ": /verificationMaterial/certificate: a Sigstore keyless bundle (Fulcio certificate); "
                                        "verify it with model_signing itself");
  }
  if (vm.contains("x509CertificateChain")) {
    if (trust.certificates().empty()) {
      return Status::InvalidInput(where + ": a certificate-signed bundle: give the trusted certificates (--cert-chain), not a public key");
    }
    const json& chain = vm["x509CertificateChain"];
    if (!chain.is_object() || !chain.contains("certificates") || !chain["certificates"].is_array() || chain["certificates"].empty()) {
      return Status::InvalidInput(where + ": /verificationMaterial/x509CertificateChain/certificates: expected a non-empty array");
    }
    std::vector<std::string> ders;
    for (size_t i = 0; i < chain["certificates"].size(); ++i) {
      const std::string p = "/verificationMaterial/x509CertificateChain/certificates/" + std::to_string(i);
      DG_ASSIGN_OR_RETURN(std::string raw, StringAt(chain["certificates"][i], "rawBytes", where, p));
      std::optional<std::string> der = Base64DecodeAnyAlphabet(raw);
      if (!der) return Status::InvalidInput(where + ": " + p + "/rawBytes: not base64");
      ders.push_back(std::move(*der));
    }
    DG_ASSIGN_OR_RETURN(EcPublicKey k, VerifyCertificateChain(ders, trust.certificates(), where));
    signer = std::move(k);
    v02_hash = true;
  } else {
    if (!vm.contains("publicKey") || !vm["publicKey"].is_object()) {
      return Status::InvalidInput(where + ": /verificationMaterial: expected publicKey (key mode) or x509CertificateChain (certificate mode)");
    }
    if (trust.key() == nullptr) {
      return Status::InvalidInput(where + ": a key-signed bundle: give the signer's public key (--pubkey), not certificates");
    }
    const EcPublicKey& key = *trust.key();
    const json& pk = vm["publicKey"];
    const std::string hint = pk.contains("hint") && pk["hint"].is_string() ? pk["hint"].get<std::string>() : "";
    if (!hint.empty()) {
      if (hint != HexEncode(Sha256(key.pem()))) {
        return Status::VerifyFailed(where + ": /verificationMaterial/publicKey/hint: the signature names another key (" + hint +
                                    "), not the public key given (" + HexEncode(Sha256(key.pem())) + ")");
      }
    } else {
      warnings.push_back("the bundle uses the pre-1.1 verification material (no public key hint); re-sign to name the key");
    }
    signer = key;
  }
  const EcPublicKey& key = *signer;
  if (!b.contains("dsseEnvelope") || !b["dsseEnvelope"].is_object()) {
    return Status::InvalidInput(where + ": /dsseEnvelope: expected a DSSE envelope (model_signing signs one)");
  }
  const json& env = b["dsseEnvelope"];
  DG_ASSIGN_OR_RETURN(std::string payload_b64, StringAt(env, "payload", where, "/dsseEnvelope"));
  DG_ASSIGN_OR_RETURN(std::string payload_type, StringAt(env, "payloadType", where, "/dsseEnvelope"));
  if (!env.contains("signatures") || !env["signatures"].is_array() || env["signatures"].empty()) {
    return Status::InvalidInput(where + ": /dsseEnvelope/signatures: expected at least one signature");
  }
  DG_ASSIGN_OR_RETURN(std::string sig_b64, StringAt(env["signatures"][0], "sig", where, "/dsseEnvelope/signatures/0"));
  const std::optional<std::string> payload = Base64DecodeAnyAlphabet(payload_b64);
  const std::optional<std::string> sig = Base64DecodeAnyAlphabet(sig_b64);
  if (!payload) return Status::InvalidInput(where + ": /dsseEnvelope/payload: not base64");
  if (!sig) return Status::InvalidInput(where + ": /dsseEnvelope/signatures/0/sig: not base64");
  if (!key.Verify(DssePae(payload_type, *payload), *sig)) {
    const bool compat = v02_hash ? key.VerifySha256(CompatPae(*payload), *sig) : key.Verify(CompatPae(*payload), *sig);
    if (!compat) {
      return Status::VerifyFailed(where + ": the signature does not verify under the " + key.curve() + " key " +
                                  (v02_hash ? "of the signing certificate" : "given"));
    }
    warnings.push_back("signed over model_signing's pre-1.0 PAE (accepted, as model_signing accepts it)");
  }
  if (payload_type != kInTotoPayloadType) {
    return Status::VerifyFailed(where + ": /dsseEnvelope/payloadType: expected " + std::string(kInTotoPayloadType) + ", got " +
                                payload_type);
  }
  DG_ASSIGN_OR_RETURN(json st, ParseJsonStrict(*payload, where + " (signed payload)"));
  DG_ASSIGN_OR_RETURN(out, ManifestFromModelSigningStatement(st, where + " (signed payload)"));
  out.warnings.insert(out.warnings.begin(), warnings.begin(), warnings.end());
  return out;
}

StatusOr<ModelSignatureCheck> VerifyModelSignature(const std::string& bundle_text, const std::string& bundle_where,
                                                   const ModelSigningTrust& trust, const std::string& model_path,
                                                   const std::vector<std::string>& extra_ignores, int threads,
                                                   bool ignore_git_paths) {
  ModelSignatureCheck check;
  DG_ASSIGN_OR_RETURN(check.signed_manifest, VerifyModelSigningBundle(bundle_text, bundle_where, trust));
  const SignedModelManifest& sm = check.signed_manifest;
  ModelHashOptions o;
  o.threads = threads;
  o.inspect = false;  // bytes only, as model_signing
  o.ignore_git_paths = ignore_git_paths;
  o.ignore_signature_file = false;  // what is left out is what was signed as left out
  o.ignore_paths = extra_ignores;
  if (sm.serialization.contains("ignore_paths")) {
    const json& ig = sm.serialization["ignore_paths"];
    if (!ig.is_array()) return Status::InvalidInput(bundle_where + ": /predicate/serialization/ignore_paths: expected an array");
    for (const json& p : ig) {
      if (!p.is_string()) return Status::InvalidInput(bundle_where + ": /predicate/serialization/ignore_paths: expected strings");
      o.ignore_paths.push_back(p.get<std::string>());
    }
  }
  o.allow_symlinks = sm.serialization.value("allow_symlinks", false) == true;
  const bool sharded = sm.serialization.value("method", "") == "shards";
  if (sharded) {
    const json& size_j = sm.serialization.contains("shard_size") ? sm.serialization["shard_size"] : json();
    if (!size_j.is_number_unsigned() || size_j.get<uint64_t>() == 0) {
      return Status::InvalidInput(bundle_where + ": /predicate/serialization/shard_size: expected a positive integer");
    }
    o.shard_size = size_j.get<uint64_t>();  // the pieces' digests in the same read as the files'
  }
  DG_ASSIGN_OR_RETURN(check.local, HashModel(model_path, o));
  std::map<std::string, Hash> actual;
  if (sharded) {
    for (const ModelFile& f : check.local.files) {
      // A shards signature has no resource for an empty file, so it cannot
      // say whether one belongs: refused rather than passed over.
      if (f.bytes == 0) {
        return Status::VerifyFailed(model_path + ": " + f.path + " is empty, and a shards signature cannot cover empty files");
      }
      for (size_t k = 0; k < f.shards.size(); ++k) {
        const uint64_t start = k * o.shard_size, end = std::min(f.bytes, start + o.shard_size);
        actual[f.path + ":" + std::to_string(start) + ":" + std::to_string(end)] = f.shards[k];
      }
    }
  } else {
    for (const ModelFile& f : check.local.files) actual[f.path] = f.sha256;
  }
  std::vector<std::string> extra, missing, changed;
  for (const auto& [name, d] : actual) {
    auto it = sm.resources.find(name);
    if (it == sm.resources.end()) extra.push_back(name);
    else if (it->second != d) changed.push_back("'" + name + "': signed " + HexEncode(it->second) + ", now " + HexEncode(d));
  }
  for (const auto& [name, _] : sm.resources) {
    if (!actual.count(name)) missing.push_back(name);
  }
  if (!extra.empty() || !missing.empty() || !changed.empty()) {
    auto join = [](const std::vector<std::string>& v) {
      std::string s;
      for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
      return s;
    };
    std::string msg = model_path + ": the model differs from the signed manifest:";
    if (!extra.empty()) msg += " files not signed: " + join(extra) + ";";
    if (!missing.empty()) msg += " signed files missing: " + join(missing) + ";";
    if (!changed.empty()) msg += " hash mismatch for " + join(changed) + ";";
    msg.pop_back();
    return Status::VerifyFailed(msg);
  }
  return check;
}

}  // namespace dg
