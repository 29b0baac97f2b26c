// `distillgate demo`: the README's main job. In the working directory it
// creates a key, a ledger, a default policy and two jobs if absent; trains
// (or reuses) the default CNN teacher on Fashion-MNIST; distils an MLP
// student that sees 1,000 labels and the teacher's outputs on all 60,000
// images; then verifies the ledger and proves its last entry offline.
// A build without LibTorch records the dataset files instead of training.
#include <dirent.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "core/project_config.h"
#include "ledger/fsck.h"
#include "ledger/key_files.h"
#include "ledger/ledger.h"
#include "ledger/proof_bundle.h"
#include "attest/attestation.h"
#include "attest/claim_verify.h"
#include "policy/policy.h"
#include "report/eu_summary.h"
#include "report/render.h"
#include "report/run_report.h"
#include "cli/trainer_exec.h"

namespace dg::cli {
namespace {

struct DemoArgs {
  std::string dir = ".";     // where the demo's files go
  std::string workdir;       // dir + "/"
  std::string data = "/usr/share/datasets/fashion-mnist";
  std::string ledger;        // default: <dir>/distillgate.ledger
  std::string keys;          // default: <dir>/distillgate-keys
  bool quick = false;        // small subsets (tests): 3,000 images, 1 epoch
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

// Runs one trainer command; a refusal or failure stops the demo.
StatusOr<nlohmann::json> Train(const std::vector<std::string>& args) {
  DG_ASSIGN_OR_RETURN(TrainerRun r, RunTrainer(args));
  if (r.exit_code == 2) return Status::InvalidInput("the trainer refused its input (see above)");
  if (r.exit_code != 0 && r.exit_code != 1 && r.exit_code != 4) return Status::IoError("the trainer failed (see above)");
  if (!r.summary.is_object()) return Status::Internal("the trainer printed no summary");
  if (!r.summary.value("trained", false)) {
    return Status::Internal("the job was not allowed: " + r.summary.value("verdict", std::string("?")));
  }
  return r.summary;
}

// The default policy and jobs, written once so that a user can read and edit them.
Status WriteDefaults(const DemoArgs& a) {
  auto write_if_absent = [](const std::string& path, const nlohmann::json& j) -> Status {
    if (FileExists(path)) return Status::Ok();
    std::cout << "wrote " << path << "\n";
    return WriteFileAtomic(path, j.dump(2) + "\n", 0644, true);
  };
  DG_ASSIGN_OR_RETURN(Policy policy, DefaultPolicy());
  DG_RETURN_IF_ERROR(write_if_absent(a.workdir + "distillgate-policy.json", policy.doc));
  // The project configuration (docs/project-config.md): commands run in DIR
  // use the demo's policy, ledger and key without being told, and record so.
  const std::string config = a.workdir + kProjectConfigName;
  if (!FileExists(config)) {
    auto quoted = [&a](const std::string& path) {
      // A path inside DIR is written relative to it (the directory can move).
      const std::string rel = path.rfind(a.workdir, 0) == 0 ? path.substr(a.workdir.size()) : std::filesystem::absolute(path).string();
      return nlohmann::json(rel).dump();  // a JSON string is a TOML basic string
    };
    const std::string text = "# distillgate's project configuration (docs/project-config.md), written by `distillgate demo`.\n"
                             "# Commands run in this directory, or below it, use these unless told otherwise.\n"
                             "policy = " + quoted(a.workdir + "distillgate-policy.json") + "\n" +
                             "ledger = " + quoted(a.ledger) + "\n" + "key = " + quoted(KeyFilesIn(a.keys).private_key) + "\n";
    std::cout << "wrote " << config << "\n";
    DG_RETURN_IF_ERROR(WriteFileAtomic(config, text, 0644, true));
  }
  const nlohmann::json data = {{{"id", "fashion-mnist"}, {"path", a.data}, {"license", "MIT"}}};
  const nlohmann::json use = {{"commercial", false}, {"distribution", "internal"}, {"purpose", "research"}};
  DG_RETURN_IF_ERROR(write_if_absent(
      a.workdir + "distillgate-teacher.job.json",
      {{"name", "fmnist-cnn-teacher"}, {"teachers", nlohmann::json::array()}, {"datasets", data},
       {"student", {{"name", "fmnist-cnn-teacher"}, {"model_type", "classifier"}, {"architecture", "cnn-wide"}}},
       {"use", use},
       // The default teacher and recipe of bench/kd_quality.sh (bench/RESULTS.md):
       // the wider CNN, 8 epochs with a cosine learning rate (~92 %).
       {"training", a.quick ? nlohmann::json{{"arch", "cnn-wide"}, {"epochs", 1}, {"seed", 1}, {"train_limit", 3000}}
                            : nlohmann::json{{"arch", "cnn-wide"}, {"epochs", 8}, {"seed", 1}, {"lr_schedule", "cosine"}}},
       {"output", {{"model", "distillgate-teacher.pt"}}}}));
  DG_RETURN_IF_ERROR(write_if_absent(
      a.workdir + "distillgate-kd.job.json",
      {{"name", "fmnist-kd-student"},
       {"teachers", {{{"id", "fmnist-cnn-teacher"}, {"kind", "local"}, {"license", "MIT"}, {"model_file", "distillgate-teacher.pt"}}}},
       {"datasets", data},
       {"student", {{"name", "fmnist-mlp-student"}, {"model_type", "classifier"}, {"architecture", "mlp"}}},
       {"use", use},
       {"training", {{"arch", "mlp"}, {"hidden", {64, 64}}, {"loss", "kd"}, {"temperature", 4}, {"alpha", 0.9},
                     {"epochs", a.quick ? 1 : 20}, {"lr_schedule", a.quick ? "constant" : "cosine"},
                     {"labelled_examples", 1000}, {"seed", 1},
                     {"train_limit", a.quick ? 3000 : 0}}},
       {"output", {{"model", "distillgate-student.pt"}}}}));
  return Status::Ok();
}

Status RunDemo(DemoArgs a) {
  a.workdir = a.dir + "/";
  if (a.ledger.empty()) a.ledger = a.workdir + "distillgate.ledger";
  if (a.keys.empty()) a.keys = a.workdir + "distillgate-keys";
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

  const bool train = HaveTrainer();
  AppendResult r;
  std::string run_id, model_path;  // of the distillation, for the suggested next steps
  // The policy, jobs and project configuration are written with or without
  // a trainer: the auditor's `check` decides the demo's jobs either way.
  DG_RETURN_IF_ERROR(WriteDefaults(a));
  if (train) {
  ledger.reset();  // the trainer opens the ledger itself
  const std::vector<std::string> common = {"--ledger", a.ledger, "--key", kp.private_key, "--policy",
                                           a.workdir + "distillgate-policy.json", "--device", "auto"};
  auto with = [&common](std::vector<std::string> v) {
    v.insert(v.end(), common.begin(), common.end());
    return v;
  };
  if (!FileExists(a.workdir + "distillgate-teacher.pt")) {
    std::cout << "training the default teacher (a CNN, cnn-wide, on Fashion-MNIST)…" << std::endl;
    DG_ASSIGN_OR_RETURN(auto ts, Train(with({"train-teacher", "--job", a.workdir + "distillgate-teacher.job.json"})));
    std::printf("teacher: %.2f %% test accuracy (%s)\n", 100 * ts["student_accuracy"].get<double>(),
                ts["model"]["path"].get<std::string>().c_str());
  } else {
    std::cout << "reusing the default teacher " << a.workdir << "distillgate-teacher.pt\n";
  }
  std::cout << "distilling an MLP student from 1,000 labels plus the teacher's outputs on every training image…" << std::endl;
  // A second demo replaces the student it wrote before (recorded: --force).
  DG_ASSIGN_OR_RETURN(auto s, Train(with({"run", "--job", a.workdir + "distillgate-kd.job.json", "--force"})));
  std::cout << "decision: " << s["verdict"].get<std::string>() << " (ledger entry " << s["decision_index"] << ", run "
            << s.value("run", "") << ")\n";
  std::printf("teacher accuracy %.2f %%, student accuracy %.2f %% (%s, %.1f s on %s)\n",
              100 * s["teacher_accuracy"].get<double>(), 100 * s["student_accuracy"].get<double>(), Counted(s["epochs"].size(), "epoch").c_str(),
              s["train_seconds"].get<double>(), s["device"].get<std::string>().c_str());
  std::cout << "teacher calls recorded: " << s["teacher_calls"] << "; student model " << s["model"]["path"].get<std::string>()
            << " (sha256 " << s["model"]["sha256"].get<std::string>().substr(0, 16) << "…)\n";
  run_id = s.value("run", "");
  model_path = s["model"]["path"].get<std::string>();
  DG_ASSIGN_OR_RETURN(ledger, Ledger::Open(a.ledger, Ledger::Mode::kReadWrite));
  DG_ASSIGN_OR_RETURN(r.tree_size, ledger->Size());
  DG_ASSIGN_OR_RETURN(r.checkpoint, ledger->HeadNote());
  } else {
  std::cout << "this build has no trainer (LibTorch was not found): recording the dataset files instead\n";
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
  DG_ASSIGN_OR_RETURN(r, ledger->Append(entries, key));
  std::cout << "recorded " << entries.size() << " dataset files of " << a.data << " as entries " << r.first_index
            << ".." << r.tree_size - 1 << "\n";
  }
  DG_ASSIGN_OR_RETURN(FsckReport report, Fsck(*ledger, trusted, opt));
  DG_RETURN_IF_ERROR(FsckStatus(report));
  std::cout << "ledger verifies: " << report.tree_size << " entries, " << report.checkpoints_checked
            << " signed checkpoints" << (opt.since_note ? ", consistent with the previous run's checkpoint" : "")
            << "\n";

  DG_ASSIGN_OR_RETURN(InclusionBundle b, MakeInclusionBundle(*ledger, r.tree_size - 1, std::nullopt));
  DG_RETURN_IF_ERROR(VerifyInclusionBundle(b, trusted).status());
  std::cout << "inclusion proof of entry " << b.leaf_index << " (" << b.proof.size()
            << " hashes) verifies offline against the signed checkpoint:\n\n"
            << r.checkpoint << "\n";
  DG_RETURN_IF_ERROR(WriteFileAtomic(saved, r.checkpoint, 0644, false));
  std::cout << "ledger: " << a.ledger << "   saved checkpoint: " << saved << "   verifier key: " << kp.vkey << "\n"
            << "try: distillgate ledger show --ledger " << a.ledger << "\n"
            << "     distillgate ledger verify --ledger " << a.ledger << " --pubkey " << kp.vkey << " --since " << saved
            << "\n";
  if (!run_id.empty()) {
    // The people outside the run: an audit report, a signed attestation of
    // the student, and the offline check of that claim.
    RunReportOptions ro;
    ro.run_id = run_id;
    ro.trusted = &trusted;
    DG_ASSIGN_OR_RETURN(nlohmann::json run_report, BuildRunReport(*ledger, ro));
    const std::string report_dir = a.workdir + "reports/" + run_id;
    DG_RETURN_IF_ERROR(WriteReportFiles(run_report, report_dir, {"md", "html", "json", "sarif"}).status());
    // The EU public summary of the student's training content, as far as
    // the ledger holds the facts (docs/eu-training-summary.md).
    DG_ASSIGN_OR_RETURN(nlohmann::json eu, ExportEuGpaiSummary(run_report));
    DG_RETURN_IF_ERROR(WriteFileAtomic(report_dir + "/eu-training-summary.json", eu.dump(2) + "\n", 0644, false));
    DG_RETURN_IF_ERROR(WriteFileAtomic(report_dir + "/eu-training-summary.md", RenderEuGpaiSummaryMarkdown(eu), 0644, false));
    const std::string bundle = a.workdir + "distillgate-student.bundle.json";
    DG_ASSIGN_OR_RETURN(nlohmann::json statement, BuildStatement(*ledger, {run_id, {model_path}}));
    DG_ASSIGN_OR_RETURN(nlohmann::json envelope, SignStatement(statement, key, DsseKeyId(trusted)));
    DG_RETURN_IF_ERROR(WriteFileAtomic(bundle, envelope.dump(2) + "\n", 0644, false));
    DG_ASSIGN_OR_RETURN(ClaimReport claim, VerifyClaim({{model_path}, envelope, bundle, trusted, nullptr, nullptr}));
    if (!claim.ok()) return Status::Internal("the demo's own attestation does not verify: " + claim.ToJson().dump());
    std::cout << "audit report: " << report_dir << "/report.{md,html,json,sarif}\n"
              << "EU training-content summary: " << report_dir << "/eu-training-summary.{md,json} (" << eu["not_recorded"].size()
              << " fields for the provider to fill)\n"
              << "attestation: " << bundle << " (DSSE, in-toto; " << statement["predicate"]["ledger"]["entries"].size()
              << " ledger entries proven) — verified offline: " << claim.checks.size() << " checks hold\n"
              << "     distillgate verify --model " << model_path << " --bundle " << bundle << " --vkey " << kp.vkey << "\n";
  }
  return Status::Ok();
}

}  // namespace

void RegisterDemo(CLI::App& app, Dispatch& d) {
  auto a = std::make_shared<DemoArgs>();
  CLI::App* demo = app.add_subcommand(
      "demo", "The main job on the built-in default: train (or reuse) the Fashion-MNIST teacher, distil a student "
              "under the gate, record everything in a ledger in DIR, verify it and prove its last entry");
  demo->add_option("--dir", a->dir, "Directory for the demo's key, ledger, policy, jobs and models")->capture_default_str();
  demo->add_option("--data", a->data, "Dataset directory (IDX files)")->capture_default_str();
  demo->add_option("--ledger", a->ledger, "Ledger file (default: DIR/distillgate.ledger)");
  demo->add_option("--keys", a->keys, "Key directory (default: DIR/distillgate-keys)");
  demo->add_flag("--quick", a->quick, "Train on 3,000 images for one epoch (for tests)");
  demo->add_option("--origin", a->origin, "Origin for a new key and ledger")->capture_default_str();
  demo->callback([&d, a] { d.handler = ExitZeroOr([a] { return RunDemo(*a); }); });
}

}  // namespace dg::cli
