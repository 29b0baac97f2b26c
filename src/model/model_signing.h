// OpenSSF model_signing v1.x signatures, key mode (sigstore/model-transparency
// docs/model_signing_format.md; docs/model-identity.md here): a Sigstore
// bundle (media type application/vnd.dev.sigstore.bundle.v0.3+json) whose
// DSSE envelope carries an in-toto Statement v1 with predicate type
// https://model_signing/signature/v1.0. Its one subject is the model's name
// and root digest; its predicate lists every resource (file, or file shard)
// with its digest and the serialization that produced them. The envelope is
// signed with an ECDSA key: DER over DSSE PAE, the key named in
// verificationMaterial.publicKey.hint by SHA-256 of its PEM.
//
// Verification follows model_signing's key and certificate verifiers. Key
// mode: the hint (when given) must name the key. Certificate mode: the
// bundle's x509CertificateChain (signing certificate first) must chain to a
// trusted certificate at the signing certificate's notBefore, and that
// certificate must allow signing; its key is the signer's. Then: the signature must verify over PAE (or, as model_signing
// accepts, over the pre-1.0 PAE with the payload's Python repr); the
// statement must be in-toto v1 with one subject whose digest is the SHA-256
// of the resources' digests in predicate order; then the model is hashed with
// the signed serialization and its manifest must equal the signed one:
// no file added, none missing, none changed. The legacy predicate
// https://model_signing/Digests/v0.1 (one subject per file) is accepted with
// a warning. Sigstore keyless bundles (Fulcio certificate, Rekor entry) are
// not verified here.
//
// Reads the model and the files named; safe on any thread. Errors:
// InvalidInput for malformed bundles, statements or keys; VerifyFailed for a
// signature that does not verify, a hint naming another key, an inconsistent
// root or a model that differs from the signed manifest (naming every
// difference); IoError when the model cannot be read.
#ifndef DISTILLGATE_MODEL_MODEL_SIGNING_H_
#define DISTILLGATE_MODEL_MODEL_SIGNING_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/ecdsa.h"
#include "core/hash.h"
#include "core/status.h"
#include "model/model_dir.h"

namespace dg {

inline constexpr char kModelSigningPredicate[] = "https://model_signing/signature/v1.0";
inline constexpr char kModelSigningPredicateCompat[] = "https://model_signing/Digests/v0.1";
inline constexpr char kSigstoreBundleMediaType[] = "application/vnd.dev.sigstore.bundle.v0.3+json";

// The in-toto Statement model_signing signs for `m` (files serialization).
nlohmann::json ModelSigningStatement(const ModelManifest& m);

// The whole bundle, as the JSON text written to the .sig file.
StatusOr<std::string> SignModelManifest(const ModelManifest& m, const EcPrivateKey& key);

// What a signed statement says, its root checked against its resources.
struct SignedModelManifest {
  std::string predicate_type;
  std::string model_name;
  Hash root{};
  nlohmann::json serialization;                 // as signed
  std::map<std::string, Hash> resources;        // name → digest
  std::vector<std::string> resource_order;      // as signed
  std::vector<std::string> warnings;
};

// Who may have signed: one public key (key mode), or the holders of
// certificates that chain to the trusted ones (certificate mode).
class ModelSigningTrust {
 public:
  static ModelSigningTrust Key(EcPublicKey key);
  // `trusted_pem`: one or more PEM certificates (model_signing's --certificate_chain files).
  static ModelSigningTrust Certificates(std::string trusted_pem);
  const EcPublicKey* key() const { return key_ ? &*key_ : nullptr; }
  const std::string& certificates() const { return certificates_; }

 private:
  ModelSigningTrust() = default;
  std::optional<EcPublicKey> key_;
  std::string certificates_;
};

// Checks the bundle's signature under `trust` and returns the signed manifest.
StatusOr<SignedModelManifest> VerifyModelSigningBundle(const std::string& bundle_text, const std::string& where,
                                                       const ModelSigningTrust& trust);

// The statement's manifest (no signature check): for a caller that has
// verified the envelope itself.
StatusOr<SignedModelManifest> ManifestFromModelSigningStatement(const nlohmann::json& statement, const std::string& where);

struct ModelSignatureCheck {
  SignedModelManifest signed_manifest;
  ModelManifest local;  // the model as hashed now (files serialization)
};

// Verifies the bundle and the model at `model_path` against it.
// `extra_ignores` (relative to the model) are left out as model_signing's
// --ignore-paths are; the signature file itself should be among them when it
// lies inside the model directory.
StatusOr<ModelSignatureCheck> VerifyModelSignature(const std::string& bundle_text, const std::string& bundle_where,
                                                   const ModelSigningTrust& trust, const std::string& model_path,
                                                   const std::vector<std::string>& extra_ignores, int threads = 0,
                                                   bool ignore_git_paths = true);

}  // namespace dg

#endif  // DISTILLGATE_MODEL_MODEL_SIGNING_H_
