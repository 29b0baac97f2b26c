// SHA-256 through OpenSSL EVP. Hash is a fixed 32-byte value type.
// Sha256() and Sha256File() are safe on any thread; a Sha256Hasher is used by
// one thread at a time. Sha256File returns IoError naming the path.
#ifndef DISTILLGATE_CORE_HASH_H_
#define DISTILLGATE_CORE_HASH_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace dg {

using Hash = std::array<uint8_t, 32>;

// SHA-256 of a byte string.
Hash Sha256(std::string_view data);
// SHA-256 of the concatenation of two byte strings (no copy).
Hash Sha256(std::string_view a, std::string_view b);

// Incremental SHA-256 for streams and large files.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;
  void Update(std::string_view data);
  void Update(const void* data, size_t len);
  Hash Finish();  // the hasher can be reused after Finish()

 private:
  void* ctx_;  // EVP_MD_CTX*, kept out of the header
};

// SHA-256 of a whole file, streamed in 1 MiB chunks.
StatusOr<Hash> Sha256File(const std::string& path);

std::string_view AsBytes(const Hash& h);

}  // namespace dg

#endif  // DISTILLGATE_CORE_HASH_H_
