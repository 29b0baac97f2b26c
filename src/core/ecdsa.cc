#include "core/ecdsa.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>

#include "core/ed25519.h"
#include "core/file_util.h"

namespace dg {
namespace {

std::shared_ptr<void> Own(EVP_PKEY* k) {
  return std::shared_ptr<void>(k, [](void* p) { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); });
}

// The curve's name as Sigstore writes it, or "" for any other key.
std::string CurveOf(EVP_PKEY* k) {
  if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC) return "";
  char name[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_group_name(k, name, sizeof name, &len) != 1) return "";
  const std::string n(name, len);
  if (n == "prime256v1" || n == "P-256" || n == "secp256r1") return "P-256";
  if (n == "secp384r1" || n == "P-384") return "P-384";
  if (n == "secp521r1" || n == "P-521") return "P-521";
  return "";
}

const EVP_MD* HashOf(const std::string& curve) {
  if (curve == "P-256") return EVP_sha256();
  if (curve == "P-384") return EVP_sha384();
  return EVP_sha512();
}

// The SubjectPublicKeyInfo PEM with the point uncompressed, whatever form
// the key was read in: the bytes model_signing's hint hashes.
StatusOr<std::string> PublicPem(EVP_PKEY* key) {
  EVP_PKEY* k = EVP_PKEY_dup(key);
  if (k == nullptr) return Status::Internal("EVP_PKEY_dup failed");
  std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> owned(k, EVP_PKEY_free);
  if (EVP_PKEY_set_utf8_string_param(k, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED) != 1) {
    return Status::Internal("cannot set the EC point format");
  }
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr || PEM_write_bio_PUBKEY(bio, k) != 1) {
    BIO_free(bio);
    return Status::Internal("cannot write the public key as PEM");
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  return pem;
}

Status NotSupported(const std::string& where) {
  return Status::InvalidInput(where + ": not an ECDSA key on P-256, P-384 or P-521 (model_signing's key mode takes no other; "
                                      "make one with: openssl ecparam -genkey -name prime256v1 -noout | openssl pkcs8 -topk8 -nocrypt)");
}

}  // namespace

StatusOr<EcPublicKey> EcPublicKey::FromPkey(void* pkey, const std::string& where) {
  EVP_PKEY* k = static_cast<EVP_PKEY*>(pkey);
  EcPublicKey key;
  key.pkey_ = Own(k);
  key.curve_ = CurveOf(k);
  if (key.curve_.empty()) return NotSupported(where);
  DG_ASSIGN_OR_RETURN(key.pem_, PublicPem(k));
  return key;
}

StatusOr<EcPublicKey> EcPublicKey::FromPem(std::string_view pem, const std::string& where) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return Status::Internal("BIO_new_mem_buf failed");
  EVP_PKEY* k = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (k == nullptr) return Status::InvalidInput(where + ": not a PEM public key (\"-----BEGIN PUBLIC KEY-----\")");
  return FromPkey(k, where);
}

StatusOr<EcPublicKey> EcPublicKey::FromDer(std::string_view der, const std::string& where) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  EVP_PKEY* k = d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size()));
  if (k == nullptr) return Status::InvalidInput(where + ": not a DER public key");
  return FromPkey(k, where);
}

StatusOr<EcPublicKey> EcPublicKey::LoadPemFile(const std::string& path) {
  DG_ASSIGN_OR_RETURN(std::string pem, ReadFile(path));
  return FromPem(pem, path);
}

bool EcPublicKey::Verify(std::string_view message, std::string_view sig) const { return VerifyWith(HashOf(curve_), message, sig); }

bool EcPublicKey::VerifySha256(std::string_view message, std::string_view sig) const { return VerifyWith(EVP_sha256(), message, sig); }

bool EcPublicKey::VerifyWith(const void* md, std::string_view message, std::string_view sig) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return false;
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, static_cast<const EVP_MD*>(md), nullptr, static_cast<EVP_PKEY*>(pkey_.get())) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                             reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

StatusOr<EcPrivateKey> EcPrivateKey::FromPem(std::string_view pem, const std::string& where) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return Status::Internal("BIO_new_mem_buf failed");
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (k == nullptr) return Status::InvalidInput(where + ": not an unencrypted PEM private key");
  EcPrivateKey key;
  key.pkey_ = Own(k);
  if (CurveOf(k).empty()) return NotSupported(where);
  DG_ASSIGN_OR_RETURN(std::string public_pem, PublicPem(k));
  DG_ASSIGN_OR_RETURN(key.public_, EcPublicKey::FromPem(public_pem, where));
  return key;
}

StatusOr<EcPrivateKey> EcPrivateKey::LoadPemFile(const std::string& path) {
  DG_ASSIGN_OR_RETURN(std::string pem, ReadPrivateKeyFile(path));
  return FromPem(pem, path);
}

StatusOr<std::string> EcPrivateKey::Sign(std::string_view message) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return Status::Internal("EVP_MD_CTX_new failed");
  EVP_PKEY* k = static_cast<EVP_PKEY*>(pkey_.get());
  size_t len = 0;
  std::string sig;
  bool ok = EVP_DigestSignInit(ctx, nullptr, HashOf(public_.curve()), nullptr, k) == 1 &&
            EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  if (ok) {
    sig.resize(len);
    ok = EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                        reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
    sig.resize(len);
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) return Status::Internal("ECDSA signing failed");
  return sig;
}

}  // namespace dg
