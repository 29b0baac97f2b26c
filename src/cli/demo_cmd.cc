// `distillgate demo`: the README's main job until the distillation runner
// lands. It uses the same library calls the runner will: keys, ledger init,
// dataset hashing into ledger entries, fsck, and an offline inclusion proof.
#include <dirent.h>

#include <algorithm>
#include <iostream>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "ledger/fsck.h"
#include "ledger/key_files.h"
#include "ledger/ledger.h"
#include "ledger/proof_bundle.h"

namespace dg::cli {
namespace {

struct DemoArgs {
  std::string data = "/usr/share/datasets/fashion-mnist";
  std::string ledger = "distillgate.ledger";
  std::string keys = "distillgate-keys";
  std::string origin = "distillgate.local/demo";
};

StatusOr<std::vector<std::string>> ListFiles(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    return Status::InvalidInput(dir + ": dataset directory not found (install Debian's dataset-fashion-mnist: "
                                      "scripts/setup.sh does)");
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != ".." && e->d_type != DT_DIR) names.push_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  if (names.empty()) return Status::InvalidInput(dir + ": dataset directory is empty");
  return names;
}

Status RunDemo(const DemoArgs& a) {
  const KeyFilePaths kp = KeyFilesIn(a.keys);
  if (!FileExists(kp.private_key)) {
    DG_ASSIGN_OR_RETURN(NoteVerifier v, GenerateKeyFiles(a.keys, a.origin));
    std::cout << "generated ledger key " << kp.private_key << " (" << v.ToString() << ")\n";
  }
  DG_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::LoadPemFile(kp.private_key));
  DG_ASSIGN_OR_RETURN(NoteVerifier trusted, LoadTrustedKey(kp.vkey, a.origin));
  if (!FileExists(a.ledger)) {
    DG_RETURN_IF_ERROR(Ledger::Init(a.ledger, key, trusted.name()));
    std::cout << "created ledger " << a.ledger << " (origin " << trusted.name() << ")\n";
  }
  DG_ASSIGN_OR_RETURN(auto ledger, Ledger::Open(a.ledger, Ledger::Mode::kReadWrite));

  // A monitor's habit: the ledger must extend what we saw last time.
  const std::string saved = a.ledger + ".checkpoint";
  FsckOptions opt;
  if (FileExists(saved)) {
    DG_ASSIGN_OR_RETURN(std::string note, ReadFile(saved));
    opt.since_note = note;
  }

  DG_ASSIGN_OR_RETURN(auto files, ListFiles(a.data));
  std::vector<LedgerEntry> entries;
  for (const std::string& name : files) {
    const std::string path = a.data + "/" + name;
    DG_ASSIGN_OR_RETURN(Hash h, Sha256File(path));
    DG_ASSIGN_OR_RETURN(uint64_t bytes, FileSize(path));
    nlohmann::json body = {{"dataset", "fashion-mnist"},
                           {"path", path},
                           {"sha256", HexEncode(h)},
                           {"bytes", bytes},
                           {"license", "MIT"},
                           {"license_source", "/usr/share/doc/dataset-fashion-mnist/copyright (Expat)"}};
    DG_ASSIGN_OR_RETURN(LedgerEntry e, LedgerEntry::Make("dataset_file", body));
    entries.push_back(std::move(e));
  }
  DG_ASSIGN_OR_RETURN(AppendResult r, ledger->Append(entries, key));
  std::cout << "recorded " << entries.size() << " dataset files of " << a.data << " as entries " << r.first_index
            << ".." << r.tree_size - 1 << "\n";

  DG_ASSIGN_OR_RETURN(FsckReport report, Fsck(*ledger, trusted, opt));
  DG_RETURN_IF_ERROR(FsckStatus(report));
  std::cout << "ledger verifies: " << report.tree_size << " entries, " << report.checkpoints_checked
            << " signed checkpoints" << (opt.since_note ? ", consistent with the previous run's checkpoint" : "")
            << "\n";

  DG_ASSIGN_OR_RETURN(InclusionBundle b, MakeInclusionBundle(*ledger, r.tree_size - 1, std::nullopt));
  DG_ASSIGN_OR_RETURN(Checkpoint cp, VerifyInclusionBundle(b, trusted));
  std::cout << "inclusion proof of entry " << b.leaf_index << " (" << b.proof.size()
            << " hashes) verifies offline against the signed checkpoint:\n\n"
            << r.checkpoint << "\n";
  DG_RETURN_IF_ERROR(WriteFileAtomic(saved, r.checkpoint, 0644, false));
  std::cout << "ledger: " << a.ledger << "   saved checkpoint: " << saved << "   verifier key: " << kp.vkey << "\n"
            << "try: distillgate ledger show --ledger " << a.ledger << "\n"
            << "     distillgate ledger verify --ledger " << a.ledger << " --pubkey " << kp.vkey << " --since " << saved
            << "\n";
  (void)cp;
  return Status::Ok();
}

}  // namespace

void RegisterDemo(CLI::App& app, Dispatch& d) {
  auto a = std::make_shared<DemoArgs>();
  CLI::App* demo = app.add_subcommand(
      "demo", "Record the Fashion-MNIST files in a ledger in the working directory, verify it and prove an entry");
  demo->add_option("--data", a->data, "Dataset directory")->capture_default_str();
  demo->add_option("--ledger", a->ledger, "Ledger file")->capture_default_str();
  demo->add_option("--keys", a->keys, "Key directory")->capture_default_str();
  demo->add_option("--origin", a->origin, "Origin for a new key and ledger")->capture_default_str();
  demo->callback([&d, a] { d.handler = [a] { return RunDemo(*a); }; });
}

}  // namespace dg::cli
