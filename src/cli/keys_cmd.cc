#include <iostream>

#include "cli/commands.h"
#include "ledger/key_files.h"

namespace dg::cli {

void RegisterKeys(CLI::App& app, Dispatch& d) {
  CLI::App* keys = app.add_subcommand("keys", "Manage Ed25519 ledger keys");
  keys->require_subcommand(1);
  CLI::App* gen = keys->add_subcommand(
      "generate", "Write DIR/ledger.key (PEM, mode 0600), DIR/ledger.pub (PEM) and DIR/ledger.vkey (C2SP)");
  auto dir = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>("distillgate.local/ledger");
  gen->add_option("--out", *dir, "Directory for the key files (created if absent)")->required();
  gen->add_option("--name", *name, "Key name = the ledger origin it will sign for")->capture_default_str();
  gen->callback([&d, dir, name] {
    d.handler = ExitZeroOr([dir, name]() -> Status {
      DG_ASSIGN_OR_RETURN(NoteVerifier v, GenerateKeyFiles(*dir, *name));
      const KeyFilePaths p = KeyFilesIn(*dir);
      std::cout << "private key: " << p.private_key << " (keep it secret)\n"
                << "public key:  " << p.public_key << "\n"
                << "vkey:        " << p.vkey << "\n"
                << v.ToString() << "\n";
      return Status::Ok();
    });
  });
}

}  // namespace dg::cli
