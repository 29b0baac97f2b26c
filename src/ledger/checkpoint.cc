#include "ledger/checkpoint.h"

#include "core/encoding.h"

namespace dg {

std::string Checkpoint::Body() const {
  return origin + "\n" + std::to_string(size) + "\n" + Base64Encode(root) + "\n";
}

StatusOr<Checkpoint> ParseCheckpointBody(std::string_view body) {
  const auto bad = [](const std::string& why) {
    return Status::VerifyFailed("malformed checkpoint (expected <origin>\\n<size>\\n<base64 root>\\n): " + why);
  };
  std::string_view lines[3];
  std::string_view rest = body;
  for (auto& l : lines) {
    size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) return bad("fewer than three lines");
    l = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
  }
  if (!rest.empty()) return bad("extension lines are not accepted");
  Checkpoint cp;
  cp.origin = std::string(lines[0]);
  if (!IsValidNoteKeyName(cp.origin)) return bad("invalid origin");
  std::string_view sz = lines[1];
  if (sz.empty() || sz.size() > 19 || (sz.size() > 1 && sz[0] == '0')) return bad("tree size must be decimal without leading zeros");
  for (char c : sz) {
    if (c < '0' || c > '9') return bad("tree size must be decimal");
    cp.size = cp.size * 10 + static_cast<uint64_t>(c - '0');
  }
  auto root = HashFromBase64(lines[2]);
  if (!root) return bad("root must be the base64 of 32 bytes");
  cp.root = *root;
  return cp;
}

StatusOr<std::string> SignCheckpoint(const Checkpoint& cp, const PrivateKey& key) {
  return SignNote(cp.Body(), cp.origin, key);
}

StatusOr<Checkpoint> OpenCheckpoint(std::string_view note, const NoteVerifier& verifier) {
  DG_ASSIGN_OR_RETURN(std::string text, OpenNote(note, verifier));
  DG_ASSIGN_OR_RETURN(Checkpoint cp, ParseCheckpointBody(text));
  if (cp.origin != verifier.name()) {
    return Status::VerifyFailed("checkpoint origin \"" + cp.origin + "\" differs from the key name \"" +
                                verifier.name() + "\"");
  }
  return cp;
}

}  // namespace dg
