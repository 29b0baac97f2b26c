// Ed25519 keys (RFC 8032) through OpenSSL's EVP interface.
//
// Hard to misuse: a PrivateKey can only come from Generate(), a 32-byte seed
// or a PEM file that nobody but its owner can read (mode 0600 or 0400); it
// signs the whole message (pure Ed25519, never a pre-hash).
//
// Keys are immutable values (copies share one OpenSSL key); Sign and Verify
// make their own context per call, so one key may be used from many threads
// at once. Errors: InvalidInput for malformed keys and unsafe key files.
#ifndef DISTILLGATE_CORE_ED25519_H_
#define DISTILLGATE_CORE_ED25519_H_

#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace dg {

class PublicKey {
 public:
  static constexpr size_t kSize = 32;
  static constexpr size_t kSignatureSize = 64;

  static StatusOr<PublicKey> FromRaw(std::string_view raw);
  // SubjectPublicKeyInfo PEM ("-----BEGIN PUBLIC KEY-----").
  static StatusOr<PublicKey> FromPem(std::string_view pem, const std::string& where);
  static StatusOr<PublicKey> LoadPemFile(const std::string& path);

  const std::string& raw() const { return raw_; }
  std::string ToPem() const;
  // True only for a valid 64-byte signature of exactly `message`.
  bool Verify(std::string_view message, std::string_view signature) const;
  bool operator==(const PublicKey& o) const { return raw_ == o.raw_; }

 private:
  std::string raw_;
  std::shared_ptr<void> pkey_;  // EVP_PKEY*
};

// Reads a private key file of any kind with the checks every key file gets: a
// regular file this user owns, mode 0600 or 0400, in directories others
// cannot write, at most 64 KiB. Errors: InvalidInput (unsafe or missing),
// IoError.
StatusOr<std::string> ReadPrivateKeyFile(const std::string& path);

class PrivateKey {
 public:
  static StatusOr<PrivateKey> Generate();
  static StatusOr<PrivateKey> FromSeed(std::string_view seed);
  // PKCS#8 PEM. Refuses a file that group or others may read or write.
  static StatusOr<PrivateKey> LoadPemFile(const std::string& path);
  static StatusOr<PrivateKey> FromPem(std::string_view pem, const std::string& where);

  // Writes PKCS#8 PEM with mode 0600; never overwrites an existing file.
  Status SavePemFile(const std::string& path) const;
  std::string ToPem() const;

  const PublicKey& public_key() const { return public_; }
  // 64-byte Ed25519 signature of `message`.
  std::string Sign(std::string_view message) const;

 private:
  PrivateKey() = default;  // only the factories above make one
  static StatusOr<PrivateKey> FromPkey(std::shared_ptr<void> pkey);
  std::shared_ptr<void> pkey_;  // EVP_PKEY*
  PublicKey public_;
};

}  // namespace dg

#endif  // DISTILLGATE_CORE_ED25519_H_
