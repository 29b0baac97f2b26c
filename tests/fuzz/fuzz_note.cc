// libFuzzer harness: C2SP signed notes, verifier keys and checkpoints.
// Arbitrary bytes as a note under a fixed key, as a vkey and as a checkpoint
// body must be refused or accepted without crashing; a note signed here
// from the input's text (when it is a valid note text) must open again.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/ed25519.h"
#include "ledger/checkpoint.h"
#include "ledger/note.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const dg::PrivateKey key = *dg::PrivateKey::FromSeed(std::string(32, 'f'));
  static const dg::NoteVerifier verifier = *dg::NoteVerifier::Make("fuzz.example/log", key.public_key());
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)dg::OpenNote(text, verifier);
  (void)dg::NoteVerifier::Parse(text);
  (void)dg::ParseCheckpointBody(text);
  (void)dg::OpenCheckpoint(text, verifier);
  auto signed_note = dg::SignNote(text, "fuzz.example/log", key);
  if (signed_note.ok()) {
    auto opened = dg::OpenNote(*signed_note, verifier);
    if (!opened.ok() || *opened != text) std::abort();
  }
  return 0;
}
