// Hex and base64 (RFC 4648) codecs. Decoders are strict: they accept only the
// canonical encoding (padding required, no whitespace, no stray bits), so a
// value has exactly one accepted spelling.
//
// Pure functions; safe on any thread. Decoders return nullopt rather than an
// error: callers say what the value was and where.
#ifndef DISTILLGATE_CORE_ENCODING_H_
#define DISTILLGATE_CORE_ENCODING_H_

#include <optional>
#include <string>
#include <string_view>

#include "core/hash.h"

namespace dg {

std::string HexEncode(std::string_view bytes);
std::string HexEncode(const Hash& h);
std::optional<std::string> HexDecode(std::string_view hex);  // lower or upper case

// Standard alphabet with '=' padding, via OpenSSL EVP_EncodeBlock.
std::string Base64Encode(std::string_view bytes);
std::string Base64Encode(const Hash& h);
std::optional<std::string> Base64Decode(std::string_view b64);
// Accepts the standard or the URL-safe alphabet (as DSSE requires), padded or not.
std::optional<std::string> Base64DecodeAnyAlphabet(std::string_view b64);

// Decodes a base64 SHA-256 value; nullopt unless it is exactly 32 bytes.
std::optional<Hash> HashFromBase64(std::string_view b64);
std::optional<Hash> HashFromHex(std::string_view hex);

}  // namespace dg

#endif  // DISTILLGATE_CORE_ENCODING_H_
