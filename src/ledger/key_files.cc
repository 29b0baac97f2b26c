#include "ledger/key_files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/file_util.h"

namespace dg {

KeyFilePaths KeyFilesIn(const std::string& dir) {
  return {dir + "/ledger.key", dir + "/ledger.pub", dir + "/ledger.vkey"};
}

StatusOr<NoteVerifier> GenerateKeyFiles(const std::string& dir, const std::string& name) {
  if (!IsValidNoteKeyName(name)) {
    return Status::InvalidInput("key name \"" + name + "\" is not valid: no spaces, '+' or control characters");
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::IoError(dir + ": cannot create directory: " + std::strerror(errno));
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return Status::InvalidInput(dir + ": not a directory");
  const KeyFilePaths p = KeyFilesIn(dir);
  for (const std::string& f : {p.private_key, p.public_key, p.vkey}) {
    if (FileExists(f)) return Status::InvalidInput(f + ": already exists; refusing to overwrite a key");
  }
  DG_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Generate());
  DG_ASSIGN_OR_RETURN(NoteVerifier v, NoteVerifier::Make(name, key.public_key()));
  Status s = key.SavePemFile(p.private_key);
  if (s.ok()) s = WriteFileAtomic(p.public_key, key.public_key().ToPem(), 0644, true);
  if (s.ok()) s = WriteFileAtomic(p.vkey, v.ToString() + "\n", 0644, true);
  if (!s.ok()) {
    // Remove only what this call created (the checks above found none of them).
    for (const std::string& f : {p.private_key, p.public_key, p.vkey}) ::unlink(f.c_str());
    return s;
  }
  return v;
}

StatusOr<NoteVerifier> LoadTrustedKey(const std::string& path, const std::string& default_name) {
  DG_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  if (text.find("-----BEGIN") != std::string::npos) {
    if (text.find("PRIVATE KEY") != std::string::npos) {
      return Status::InvalidInput(path + ": is a private key; give the public key (ledger.pub or ledger.vkey)");
    }
    DG_ASSIGN_OR_RETURN(PublicKey pk, PublicKey::FromPem(text, path));
    auto v = NoteVerifier::Make(default_name, pk);
    if (!v.ok()) return v.status().WithContext(path);
    return v;
  }
  auto v = NoteVerifier::Parse(text);
  if (!v.ok()) return v.status().WithContext(path);
  return v;
}

}  // namespace dg
