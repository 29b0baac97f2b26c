// C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys.
//
//   note      = text "\n" signature-line+        (text ends with "\n")
//   signature = "— " name " " base64(key_id[4] || sig[64]) "\n"
//   key_id    = SHA-256(name || "\n" || 0x01 || pubkey)[:4]
//   vkey      = name "+" hex8(key_id) "+" base64(0x01 || pubkey)
//
// Pure functions (no I/O), safe on any thread; NoteVerifier is an immutable
// value. A malformed vkey or note text to sign is InvalidInput; a note that
// does not open (malformed, unsigned, a bad signature) is VerifyFailed.
#ifndef DISTILLGATE_LEDGER_NOTE_H_
#define DISTILLGATE_LEDGER_NOTE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "core/ed25519.h"
#include "core/status.h"

namespace dg {

class NoteVerifier {
 public:
  // Parses the C2SP verifier-key text form (surrounding whitespace ignored).
  static StatusOr<NoteVerifier> Parse(std::string_view vkey);
  static StatusOr<NoteVerifier> Make(const std::string& name, const PublicKey& key);

  const std::string& name() const { return name_; }
  uint32_t key_id() const { return key_id_; }
  const PublicKey& key() const { return key_; }
  std::string ToString() const;  // the vkey text, no newline

 private:
  std::string name_;
  uint32_t key_id_ = 0;
  PublicKey key_;
};

// Ed25519 key id for `name`, as the signed-note spec defines it.
uint32_t NoteKeyId(const std::string& name, const PublicKey& key);

// True for a key name the spec allows: non-empty, valid UTF-8 without
// spaces, '+' or control characters.
bool IsValidNoteKeyName(std::string_view name);

// Signs `text` (which must end in "\n" and be a valid note text) and returns
// the whole note with one signature line.
StatusOr<std::string> SignNote(std::string_view text, const std::string& name, const PrivateKey& key);

// Verifies a note against one trusted key and returns its text. Signatures
// from other (name, id) pairs are ignored; a bad signature from the trusted
// (name, id) rejects the note; so does the absence of any.
StatusOr<std::string> OpenNote(std::string_view note, const NoteVerifier& verifier);

}  // namespace dg

#endif  // DISTILLGATE_LEDGER_NOTE_H_
