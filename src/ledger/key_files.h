// The key files a ledger owner keeps: DIR/ledger.key (PKCS#8 PEM, 0600),
// DIR/ledger.pub (SPKI PEM) and DIR/ledger.vkey (C2SP verifier key).
//
// Errors: IoError for the file system, InvalidInput for a file that is not
// a key. GenerateKeyFiles writes all three files or none.
#ifndef DISTILLGATE_LEDGER_KEY_FILES_H_
#define DISTILLGATE_LEDGER_KEY_FILES_H_

#include <string>

#include "core/ed25519.h"
#include "core/status.h"
#include "ledger/note.h"

namespace dg {

struct KeyFilePaths {
  std::string private_key, public_key, vkey;
};

KeyFilePaths KeyFilesIn(const std::string& dir);

// Generates a fresh Ed25519 key and writes all three files. Refuses if any
// of them exists; on failure removes whatever it wrote.
StatusOr<NoteVerifier> GenerateKeyFiles(const std::string& dir, const std::string& name);

// Reads a key the verifier trusts: a C2SP vkey text, or an SPKI PEM public
// key (then named `default_name`, normally the ledger's origin).
StatusOr<NoteVerifier> LoadTrustedKey(const std::string& path, const std::string& default_name);

}  // namespace dg

#endif  // DISTILLGATE_LEDGER_KEY_FILES_H_
