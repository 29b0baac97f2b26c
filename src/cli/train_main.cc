// distillgate-train: the LibTorch side of `distillgate run` and
// `distillgate train-teacher` (distillgate hands those commands over here).
#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"distillgate: gate, record and train (the LibTorch trainer)"};
  app.name("distillgate");
  app.require_subcommand(1);
  dg::cli::Dispatch dispatch;
  dg::cli::RegisterRun(app, dispatch);
  return dg::cli::ParseAndRun(app, dispatch, argc, argv);
}
