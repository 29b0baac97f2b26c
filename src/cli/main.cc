// distillgate: decide whether a model may be distilled, prove what happened.
#include <iostream>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/trainer_exec.h"

namespace {

constexpr const char* kExitCodes =
    "Exit codes: 0 ok; 1 verification failed or policy denied; 2 usage or bad input;\n"
    "            3 I/O or internal error; 4 (check) needs review.";

const std::vector<std::string> kTrainerCommands = {"run", "train-teacher", "train-lm", "serve-teacher", "distill-lm"};

bool IsTrainerCommand(const char* word) {
  for (const std::string& c : kTrainerCommands) {
    if (c == word) return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  // A global --operator before the command (`distillgate --operator NAME run …`):
  // the trainer inherits it through the environment.
  while (args.size() >= 3 && std::strcmp(args[1], "--operator") == 0) {
    ::setenv("DISTILLGATE_OPERATOR", args[2], 1);
    args.erase(args.begin() + 1, args.begin() + 3);
  }
  while (args.size() >= 2 && std::strncmp(args[1], "--operator=", 11) == 0) {
    ::setenv("DISTILLGATE_OPERATOR", args[1] + 11, 1);
    args.erase(args.begin() + 1);
  }
  // So is the project configuration (--config FILE, --no-config): the
  // trainer reads it from the environment (docs/project-config.md).
  while (args.size() >= 2 && (std::strcmp(args[1], "--no-config") == 0 || (args.size() >= 3 && std::strcmp(args[1], "--config") == 0))) {
    const bool none = std::strcmp(args[1], "--no-config") == 0;
    ::setenv("DISTILLGATE_CONFIG", none ? "none" : args[2], 1);
    args.erase(args.begin() + 1, args.begin() + (none ? 2 : 3));
  }
  // `help run`: the trainer's help.
  std::string help_flag = "--help";
  if (args.size() >= 3 && std::strcmp(args[1], "help") == 0 && IsTrainerCommand(args[2])) {
    args.erase(args.begin() + 1);
    args.push_back(help_flag.data());
  }
  argc = static_cast<int>(args.size());
  args.push_back(nullptr);
  argv = args.data();
  // Training runs in distillgate-train, so this binary never loads LibTorch.
  if (argc >= 2 && IsTrainerCommand(argv[1])) {
    dg::Status s = dg::cli::ExecTrainer(argc, argv);
    std::cerr << "distillgate: " << s.ToString() << "\n";
    return s.ExitCode();
  }
  CLI::App app{"distillgate: gate, record and prove model distillation.\n"
               "A signed, append-only ledger (RFC 6962 Merkle log, C2SP checkpoints, Ed25519)."};
  app.footer(std::string("Training: distillgate run --help, distillgate train-teacher --help (the LibTorch trainer).\n") +
             kExitCodes);
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Print help for every command");
  dg::cli::Dispatch dispatch;
  dg::cli::RegisterKeys(app, dispatch);
  dg::cli::RegisterLedger(app, dispatch);
  dg::cli::RegisterProof(app, dispatch);
  dg::cli::RegisterDemo(app, dispatch);
  dg::cli::RegisterLicense(app, dispatch);
  dg::cli::RegisterCheck(app, dispatch);
  dg::cli::RegisterAttest(app, dispatch);
  dg::cli::RegisterReport(app, dispatch);
  dg::cli::RegisterTranscripts(app, dispatch);
  dg::cli::RegisterAttribute(app, dispatch);
  dg::cli::RegisterModel(app, dispatch);
  return dg::cli::ParseAndRun(app, dispatch, argc, argv, kTrainerCommands);
}
