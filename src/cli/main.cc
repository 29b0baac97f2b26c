// distillgate: decide whether a model may be distilled, prove what happened.
#include <iostream>

#include <cstring>

#include "cli/commands.h"
#include "cli/trainer_exec.h"

namespace {

constexpr const char* kExitCodes =
    "Exit codes: 0 ok; 1 verification failed or policy denied; 2 usage or bad input;\n"
    "            3 I/O or internal error; 4 (check) needs review.";

}  // namespace

int main(int argc, char** argv) {
  // Training runs in distillgate-train, so this binary never loads LibTorch.
  if (argc >= 2 && (std::strcmp(argv[1], "run") == 0 || std::strcmp(argv[1], "train-teacher") == 0 ||
                    std::strcmp(argv[1], "train-lm") == 0 || std::strcmp(argv[1], "serve-teacher") == 0 ||
                    std::strcmp(argv[1], "distill-lm") == 0)) {
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
  return dg::cli::ParseAndRun(app, dispatch, argc, argv);
}
