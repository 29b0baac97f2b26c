// C2SP tlog-checkpoint bodies (https://c2sp.org/tlog-checkpoint):
//   <origin>\n<decimal tree size>\n<base64 root hash>\n
// distillgate writes no extension lines and accepts none.
//
// Pure functions (no I/O), safe on any thread. Parse and Open return
// VerifyFailed for a malformed body, a bad signature and a note signed for
// another origin: a checkpoint comes from a ledger or a proof, never from a
// user's hand.
#ifndef DISTILLGATE_LEDGER_CHECKPOINT_H_
#define DISTILLGATE_LEDGER_CHECKPOINT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "core/ed25519.h"
#include "core/hash.h"
#include "core/status.h"
#include "ledger/note.h"

namespace dg {

struct Checkpoint {
  std::string origin;
  uint64_t size = 0;
  Hash root{};

  std::string Body() const;
  bool operator==(const Checkpoint& o) const { return origin == o.origin && size == o.size && root == o.root; }
};

StatusOr<Checkpoint> ParseCheckpointBody(std::string_view body);

// Signs `cp` as a signed note under the key name `cp.origin`.
StatusOr<std::string> SignCheckpoint(const Checkpoint& cp, const PrivateKey& key);

// Verifies the note's signature with `verifier`, parses the body and requires
// its origin to equal the verifier's key name.
StatusOr<Checkpoint> OpenCheckpoint(std::string_view note, const NoteVerifier& verifier);

}  // namespace dg

#endif  // DISTILLGATE_LEDGER_CHECKPOINT_H_
