#include "core/encoding.h"

#include <openssl/evp.h>

#include <cstring>

namespace dg {

std::string HexEncode(std::string_view bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::string HexEncode(const Hash& h) { return HexEncode(AsBytes(h)); }

std::optional<std::string> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return out;
}

std::string Base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string Base64Encode(const Hash& h) { return Base64Encode(AsBytes(h)); }

std::optional<std::string> Base64Decode(std::string_view b64) {
  if (b64.size() % 4 != 0) return std::nullopt;
  for (char c : b64) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
              c == '/' || c == '=';
    if (!ok) return std::nullopt;
  }
  if (b64.empty()) return std::string();
  std::string out(b64.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
  if (n < 0) return std::nullopt;
  size_t pad = 0;
  if (b64.back() == '=') pad = (b64[b64.size() - 2] == '=') ? 2 : 1;
  out.resize(static_cast<size_t>(n) - pad);
  // Canonical form only: re-encoding must give back the input exactly. This
  // rejects '=' in the middle and non-zero bits in the last symbol.
  if (Base64Encode(out) != b64) return std::nullopt;
  return out;
}

std::optional<std::string> Base64DecodeAnyAlphabet(std::string_view b64) {
  std::string s(b64);
  for (char& c : s) {
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
  }
  while (s.size() % 4 != 0) s.push_back('=');
  return Base64Decode(s);
}

std::optional<Hash> HashFromBase64(std::string_view b64) {
  auto raw = Base64Decode(b64);
  if (!raw || raw->size() != 32) return std::nullopt;
  Hash h;
  std::memcpy(h.data(), raw->data(), 32);
  return h;
}

std::optional<Hash> HashFromHex(std::string_view hex) {
  auto raw = HexDecode(hex);
  if (!raw || raw->size() != 32) return std::nullopt;
  Hash h;
  std::memcpy(h.data(), raw->data(), 32);
  return h;
}

}  // namespace dg
