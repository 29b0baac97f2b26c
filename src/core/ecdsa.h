// ECDSA keys on the NIST curves P-256, P-384 and P-521 through OpenSSL's EVP
// interface, for formats that require them (OpenSSF model_signing's key
// mode accepts no Ed25519). Each curve signs with its own hash, as Sigstore's
// algorithm registry pairs them: P-256/SHA-256, P-384/SHA-384,
// P-521/SHA-512. Signatures are DER (X9.62 ECDSA-Sig-Value).
//
// Keys are immutable values (copies share one OpenSSL key); Sign and Verify
// make their own context per call, so a key may be used from many threads at
// once. Errors: InvalidInput for malformed keys, keys that are not EC on one
// of the three curves, and unsafe private key files.
#ifndef DISTILLGATE_CORE_ECDSA_H_
#define DISTILLGATE_CORE_ECDSA_H_

#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace dg {

class EcPublicKey {
 public:
  // SubjectPublicKeyInfo PEM ("-----BEGIN PUBLIC KEY-----").
  static StatusOr<EcPublicKey> FromPem(std::string_view pem, const std::string& where);
  static StatusOr<EcPublicKey> LoadPemFile(const std::string& path);
  // DER SubjectPublicKeyInfo.
  static StatusOr<EcPublicKey> FromDer(std::string_view spki_der, const std::string& where);
  // "P-256", "P-384" or "P-521".
  const std::string& curve() const { return curve_; }
  // The PEM OpenSSL writes (64-column base64, trailing newline): the bytes
  // whose SHA-256 model_signing uses as the key's hint.
  const std::string& pem() const { return pem_; }
  // True only for a valid DER signature of exactly `message` under the curve's hash.
  bool Verify(std::string_view message, std::string_view der_signature) const;
  // The same with SHA-256 whatever the curve: model_signing v0.2 signed so.
  bool VerifySha256(std::string_view message, std::string_view der_signature) const;

 private:
  static StatusOr<EcPublicKey> FromPkey(void* pkey, const std::string& where);  // takes ownership of an EVP_PKEY*
  bool VerifyWith(const void* md, std::string_view message, std::string_view der_signature) const;  // md: EVP_MD*
  std::string curve_, pem_;
  std::shared_ptr<void> pkey_;  // EVP_PKEY*
};

class EcPrivateKey {
 public:
  // PEM (PKCS#8 or SEC 1 "EC PRIVATE KEY"), unencrypted. LoadPemFile refuses
  // a file that group or others may read or write (ReadPrivateKeyFile).
  static StatusOr<EcPrivateKey> LoadPemFile(const std::string& path);
  static StatusOr<EcPrivateKey> FromPem(std::string_view pem, const std::string& where);
  const EcPublicKey& public_key() const { return public_; }
  // DER signature of `message`; Internal if OpenSSL fails.
  StatusOr<std::string> Sign(std::string_view message) const;

 private:
  EcPrivateKey() = default;
  std::shared_ptr<void> pkey_;  // EVP_PKEY*
  EcPublicKey public_;
};

}  // namespace dg

#endif  // DISTILLGATE_CORE_ECDSA_H_
