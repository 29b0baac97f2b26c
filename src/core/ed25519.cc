#include "core/ed25519.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "core/file_util.h"

namespace dg {
namespace {

EVP_PKEY* P(const std::shared_ptr<void>& p) { return static_cast<EVP_PKEY*>(p.get()); }

std::shared_ptr<void> Wrap(EVP_PKEY* k) {
  return std::shared_ptr<void>(k, [](void* p) { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); });
}

std::string PemOf(EVP_PKEY* k, bool priv) {
  BIO* bio = BIO_new(BIO_s_mem());
  int ok = priv ? PEM_write_bio_PrivateKey(bio, k, nullptr, nullptr, 0, nullptr, nullptr)
                : PEM_write_bio_PUBKEY(bio, k);
  std::string out;
  if (ok == 1) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    out.assign(data, static_cast<size_t>(n));
  }
  BIO_free(bio);
  if (ok != 1) throw std::runtime_error("PEM encoding failed");
  return out;
}

}  // namespace

StatusOr<PublicKey> PublicKey::FromRaw(std::string_view raw) {
  if (raw.size() != kSize) {
    return Status::InvalidInput("Ed25519 public key must be 32 bytes, got " + std::to_string(raw.size()));
  }
  EVP_PKEY* k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                            reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
  if (k == nullptr) return Status::InvalidInput("not a valid Ed25519 public key");
  PublicKey pk;
  pk.raw_ = std::string(raw);
  pk.pkey_ = Wrap(k);
  return pk;
}

StatusOr<PublicKey> PublicKey::FromPem(std::string_view pem, const std::string& where) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* k = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (k == nullptr) return Status::InvalidInput(where + ": not a PEM public key (expected \"BEGIN PUBLIC KEY\")");
  auto holder = Wrap(k);
  if (EVP_PKEY_get_id(k) != EVP_PKEY_ED25519) return Status::InvalidInput(where + ": key is not Ed25519");
  std::string raw(kSize, '\0');
  size_t len = raw.size();
  if (EVP_PKEY_get_raw_public_key(k, reinterpret_cast<unsigned char*>(raw.data()), &len) != 1 || len != kSize) {
    return Status::InvalidInput(where + ": cannot read Ed25519 public key");
  }
  PublicKey pk;
  pk.raw_ = raw;
  pk.pkey_ = holder;
  return pk;
}

StatusOr<PublicKey> PublicKey::LoadPemFile(const std::string& path) {
  DG_ASSIGN_OR_RETURN(std::string pem, ReadFile(path));
  return FromPem(pem, path);
}

std::string PublicKey::ToPem() const { return PemOf(P(pkey_), false); }

bool PublicKey::Verify(std::string_view message, std::string_view signature) const {
  if (!pkey_ || signature.size() != kSignatureSize) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, P(pkey_)) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                             reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

StatusOr<PrivateKey> PrivateKey::FromPkey(std::shared_ptr<void> pkey) {
  if (EVP_PKEY_get_id(P(pkey)) != EVP_PKEY_ED25519) return Status::InvalidInput("key is not Ed25519");
  std::string raw(PublicKey::kSize, '\0');
  size_t len = raw.size();
  if (EVP_PKEY_get_raw_public_key(P(pkey), reinterpret_cast<unsigned char*>(raw.data()), &len) != 1) {
    return Status::Internal("cannot derive Ed25519 public key");
  }
  DG_ASSIGN_OR_RETURN(PublicKey pub, PublicKey::FromRaw(raw));
  PrivateKey k;
  k.pkey_ = std::move(pkey);
  k.public_ = std::move(pub);
  return k;
}

StatusOr<PrivateKey> PrivateKey::Generate() {
  EVP_PKEY* k = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr);
  bool ok = ctx != nullptr && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, &k) == 1;
  EVP_PKEY_CTX_free(ctx);
  if (!ok) return Status::Internal("Ed25519 key generation failed");
  return FromPkey(Wrap(k));
}

StatusOr<PrivateKey> PrivateKey::FromSeed(std::string_view seed) {
  if (seed.size() != 32) return Status::InvalidInput("Ed25519 seed must be 32 bytes");
  EVP_PKEY* k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                             reinterpret_cast<const unsigned char*>(seed.data()), seed.size());
  if (k == nullptr) return Status::InvalidInput("not a valid Ed25519 seed");
  return FromPkey(Wrap(k));
}

StatusOr<PrivateKey> PrivateKey::FromPem(std::string_view pem, const std::string& where) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (k == nullptr) return Status::InvalidInput(where + ": not a PEM private key (expected \"BEGIN PRIVATE KEY\")");
  auto r = FromPkey(Wrap(k));
  if (!r.ok()) return r.status().WithContext(where);
  return r;
}

namespace {

// As ssh's secure_filename: every directory from `dir` up to / is owned by
// this user or root, and not writable by group or others unless sticky
// (where others cannot rename or remove what is not theirs).
Status CheckKeyDirectories(const std::string& key, std::string dir) {
  while (true) {
    struct stat ds;
    if (::stat(dir.c_str(), &ds) != 0) return Status::IoError(dir + ": " + std::strerror(errno));
    if ((ds.st_mode & 022) != 0 && (ds.st_mode & S_ISVTX) == 0) {
      return Status::InvalidInput(key + ": private key is under a directory that group or others may write (" + dir +
                                  "): anyone there could replace it (chmod go-w " + dir + ")");
    }
    if (ds.st_uid != ::geteuid() && ds.st_uid != 0) {
      return Status::InvalidInput(key + ": private key is under a directory owned by uid " + std::to_string(ds.st_uid) +
                                  " (" + dir + "), neither this user nor root");
    }
    if (dir == "/") return Status::Ok();
    const size_t slash = dir.find_last_of('/');
    dir = slash == 0 || slash == std::string::npos ? "/" : dir.substr(0, slash);
  }
}

std::string Realpath(const std::string& p) {
  char* r = ::realpath(p.c_str(), nullptr);
  if (r == nullptr) return "";
  std::string out(r);
  std::free(r);
  return out;
}

std::string Dirname(const std::string& p) {
  const size_t slash = p.find_last_of('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : p.substr(0, slash));
}

}  // namespace

StatusOr<std::string> ReadPrivateKeyFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::InvalidInput(path + ": private key file not found");
    return Status::IoError(path + ": " + std::strerror(errno));
  }
  // The file a symlink names is checked, and so are the directories that
  // hold the link and the file: others who could swap either could swap the key.
  const std::string resolved = Realpath(path), link_dir = Realpath(Dirname(path));
  if (resolved.empty() || link_dir.empty()) return Status::IoError(path + ": " + std::strerror(errno));
  DG_RETURN_IF_ERROR(CheckKeyDirectories(path, link_dir));
  if (Dirname(resolved) != link_dir) DG_RETURN_IF_ERROR(CheckKeyDirectories(path, Dirname(resolved)));
  // Opened once, checked on the descriptor: the file read is the file checked.
  const int fd = ::open(resolved.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Status::IoError(path + ": " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::fstat(fd, &st) != 0) return Status::IoError(path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return Status::InvalidInput(path + ": private key is not a regular file");
  // As ssh does: a key that someone else owns is not this user's key.
  if (st.st_uid != ::geteuid()) {
    return Status::InvalidInput(path + ": private key file is owned by uid " + std::to_string(st.st_uid) +
                                ", not by this user (uid " + std::to_string(::geteuid()) + ")");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::InvalidInput(path + ": private key file has mode " + mode +
                                "; it must not be readable or writable by group or others (chmod 600)");
  }
  if (st.st_size > 64 * 1024) return Status::InvalidInput(path + ": private key file is larger than 64 KiB");
  std::string pem;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IoError(path + ": " + std::strerror(errno));
    }
    pem.append(buf, static_cast<size_t>(n));
  }
  return pem;
}

StatusOr<PrivateKey> PrivateKey::LoadPemFile(const std::string& path) {
  DG_ASSIGN_OR_RETURN(std::string pem, ReadPrivateKeyFile(path));
  return FromPem(pem, path);
}

std::string PrivateKey::ToPem() const { return PemOf(P(pkey_), true); }

Status PrivateKey::SavePemFile(const std::string& path) const {
  return WriteFileAtomic(path, ToPem(), 0600, /*exclusive=*/true);
}

std::string PrivateKey::Sign(std::string_view message) const {
  std::string sig(PublicKey::kSignatureSize, '\0');
  size_t len = sig.size();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, P(pkey_)) == 1 &&
            EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok || len != PublicKey::kSignatureSize) throw std::runtime_error("Ed25519 signing failed");
  return sig;
}

}  // namespace dg
