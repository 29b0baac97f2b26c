#include "core/hash.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

namespace dg {
namespace {

EVP_MD_CTX* Ctx(void* p) { return static_cast<EVP_MD_CTX*>(p); }

// EVP_sha256() is a static object in OpenSSL 3; fetching once avoids a
// provider lookup on every hash, which matters for millions of leaf hashes.
const EVP_MD* Sha256Md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md != nullptr ? md : EVP_sha256();
}

}  // namespace

Hash Sha256(std::string_view data) { return Sha256(data, std::string_view()); }

Hash Sha256(std::string_view a, std::string_view b) {
  thread_local Sha256Hasher hasher;
  hasher.Update(a);
  hasher.Update(b);
  return hasher.Finish();
}

Sha256Hasher::Sha256Hasher() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr || EVP_DigestInit_ex(Ctx(ctx_), Sha256Md(), nullptr) != 1) {
    throw std::runtime_error("OpenSSL SHA-256 initialisation failed");
  }
}

Sha256Hasher::~Sha256Hasher() { EVP_MD_CTX_free(Ctx(ctx_)); }

void Sha256Hasher::Update(std::string_view data) { Update(data.data(), data.size()); }

void Sha256Hasher::Update(const void* data, size_t len) {
  if (len == 0) return;
  if (EVP_DigestUpdate(Ctx(ctx_), data, len) != 1) throw std::runtime_error("SHA-256 update failed");
}

Hash Sha256Hasher::Finish() {
  Hash out{};
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(Ctx(ctx_), out.data(), &n) != 1 || n != out.size() ||
      EVP_DigestInit_ex(Ctx(ctx_), Sha256Md(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 finish failed");
  }
  return out;
}

StatusOr<Hash> Sha256File(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) {
    if (errno == ENOENT) return Status::InvalidInput(path + ": no such file");
    return Status::IoError(path + ": cannot open: " + std::strerror(errno));
  }
  Sha256Hasher hasher;
  std::vector<char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) hasher.Update(buf.data(), n);
  if (std::ferror(f.get())) return Status::IoError(path + ": read failed");
  return hasher.Finish();
}

std::string_view AsBytes(const Hash& h) {
  return std::string_view(reinterpret_cast<const char*>(h.data()), h.size());
}

}  // namespace dg
