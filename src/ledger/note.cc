#include "ledger/note.h"

#include <cstdio>

#include "core/encoding.h"
#include "core/hash.h"

namespace dg {
namespace {

constexpr std::string_view kSigPrefix = "\xE2\x80\x94 ";  // U+2014 EM DASH, then a space
constexpr size_t kMaxSignatures = 100;

// Valid UTF-8 (no overlongs, no surrogates) with no control characters
// other than '\n' (and none at all when !allow_newline).
bool IsCleanUtf8(std::string_view s, bool allow_newline) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c == '\n' ? !allow_newline : (c < 0x20 || c == 0x7f)) return false;
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; }
    else return false;
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    if (cp >= 0x80 && cp < 0xa0) return false;  // C1 controls
    i += len;
  }
  return true;
}

}  // namespace

bool IsValidNoteKeyName(std::string_view name) {
  if (name.empty() || !IsCleanUtf8(name, false)) return false;
  return name.find(' ') == std::string_view::npos && name.find('+') == std::string_view::npos;
}

uint32_t NoteKeyId(const std::string& name, const PublicKey& key) {
  std::string buf = name;
  buf.push_back('\n');
  buf.push_back('\x01');
  buf += key.raw();
  Hash h = Sha256(buf);
  return (uint32_t{h[0]} << 24) | (uint32_t{h[1]} << 16) | (uint32_t{h[2]} << 8) | uint32_t{h[3]};
}

StatusOr<NoteVerifier> NoteVerifier::Make(const std::string& name, const PublicKey& key) {
  if (!IsValidNoteKeyName(name)) {
    return Status::InvalidInput("key name \"" + name + "\" is not valid: it must be non-empty, without spaces, '+' or control characters");
  }
  NoteVerifier v;
  v.name_ = name;
  v.key_ = key;
  v.key_id_ = NoteKeyId(name, key);
  return v;
}

StatusOr<NoteVerifier> NoteVerifier::Parse(std::string_view vkey) {
  while (!vkey.empty() && (vkey.back() == '\n' || vkey.back() == ' ' || vkey.back() == '\r')) vkey.remove_suffix(1);
  while (!vkey.empty() && (vkey.front() == ' ' || vkey.front() == '\n')) vkey.remove_prefix(1);
  const auto bad = [](const std::string& why) {
    return Status::InvalidInput("malformed verifier key (expected <name>+<8 hex key id>+<base64 key>): " + why);
  };
  size_t p1 = vkey.find('+');
  if (p1 == std::string_view::npos) return bad("no '+'");
  size_t p2 = vkey.find('+', p1 + 1);
  if (p2 == std::string_view::npos) return bad("only one '+'");
  std::string name(vkey.substr(0, p1));
  std::string_view hex = vkey.substr(p1 + 1, p2 - p1 - 1);
  std::string_view b64 = vkey.substr(p2 + 1);
  if (!IsValidNoteKeyName(name)) return bad("invalid key name");
  if (hex.size() != 8) return bad("key id must be 8 hex digits");
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return bad("key id must be lowercase hex");
  }
  auto raw = Base64Decode(b64);
  if (!raw) return bad("key is not canonical base64");
  if (raw->size() != 33 || (*raw)[0] != '\x01') return bad("key must be 0x01 (Ed25519) followed by 32 bytes");
  auto pk = PublicKey::FromRaw(std::string_view(*raw).substr(1));
  if (!pk.ok()) return bad(pk.status().message());
  DG_ASSIGN_OR_RETURN(NoteVerifier v, Make(name, *pk));
  uint32_t id = static_cast<uint32_t>(std::stoul(std::string(hex), nullptr, 16));
  if (id != v.key_id_) return bad("key id does not match the name and key");
  return v;
}

std::string NoteVerifier::ToString() const {
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", key_id_);
  return name_ + "+" + hex + "+" + Base64Encode(std::string("\x01", 1) + key_.raw());
}

StatusOr<std::string> SignNote(std::string_view text, const std::string& name, const PrivateKey& key) {
  if (text.empty() || text.back() != '\n') return Status::InvalidInput("note text must end with a newline");
  if (!IsCleanUtf8(text, true)) return Status::InvalidInput("note text must be UTF-8 without control characters");
  if (text.find("\n\n") != std::string_view::npos) return Status::InvalidInput("note text must not contain a blank line");
  DG_ASSIGN_OR_RETURN(NoteVerifier v, NoteVerifier::Make(name, key.public_key()));
  std::string sig = key.Sign(text);
  std::string blob;
  uint32_t id = v.key_id();
  blob.push_back(static_cast<char>(id >> 24));
  blob.push_back(static_cast<char>(id >> 16));
  blob.push_back(static_cast<char>(id >> 8));
  blob.push_back(static_cast<char>(id));
  blob += sig;
  std::string out(text);
  out += "\n";
  out += kSigPrefix;
  out += name + " " + Base64Encode(blob) + "\n";
  return out;
}

StatusOr<std::string> OpenNote(std::string_view note, const NoteVerifier& verifier) {
  if (!IsCleanUtf8(note, true)) return Status::VerifyFailed("note is not UTF-8 text without control characters");
  if (note.empty() || note.back() != '\n') return Status::VerifyFailed("note does not end with a newline");
  // The text ends at the last blank line ("\n\n"): signatures follow it.
  size_t split = note.rfind("\n\n");
  if (split == std::string_view::npos) return Status::VerifyFailed("note has no signature block");
  std::string_view text = note.substr(0, split + 1);
  std::string_view sigs = note.substr(split + 2);
  size_t count = 0;
  bool verified = false;
  while (!sigs.empty()) {
    size_t nl = sigs.find('\n');
    std::string_view line = sigs.substr(0, nl);
    sigs.remove_prefix(nl + 1);
    if (++count > kMaxSignatures) return Status::VerifyFailed("note has too many signatures");
    if (line.substr(0, kSigPrefix.size()) != kSigPrefix) {
      return Status::VerifyFailed("malformed signature line (expected \"\xE2\x80\x94 <name> <base64>\")");
    }
    line.remove_prefix(kSigPrefix.size());
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos) return Status::VerifyFailed("malformed signature line: no space after the name");
    std::string_view name = line.substr(0, sp);
    auto blob = Base64Decode(line.substr(sp + 1));
    if (!IsValidNoteKeyName(name) || !blob || blob->size() < 5) {
      return Status::VerifyFailed("malformed signature line for \"" + std::string(name) + "\"");
    }
    uint32_t id = (uint32_t{static_cast<unsigned char>((*blob)[0])} << 24) |
                  (uint32_t{static_cast<unsigned char>((*blob)[1])} << 16) |
                  (uint32_t{static_cast<unsigned char>((*blob)[2])} << 8) |
                  uint32_t{static_cast<unsigned char>((*blob)[3])};
    if (name != verifier.name() || id != verifier.key_id()) continue;  // unknown signer: ignore
    if (!verifier.key().Verify(text, std::string_view(*blob).substr(4))) {
      return Status::VerifyFailed("signature by " + verifier.name() + " does not verify");
    }
    verified = true;
  }
  if (!verified) return Status::VerifyFailed("note carries no signature by " + verifier.ToString());
  return std::string(text);
}

}  // namespace dg
