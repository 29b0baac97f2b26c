// distillgate-train: the LibTorch side of `distillgate run` and
// `distillgate train-teacher` (distillgate hands those commands over here).
#include <iostream>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"distillgate: gate, record and train (the LibTorch trainer)"};
  app.name("distillgate");
  app.require_subcommand(1);
  dg::cli::Dispatch dispatch;
  dg::cli::RegisterRun(app, dispatch);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  dg::Status s;
  try {
    s = dispatch.handler();
  } catch (const std::exception& e) {
    s = dg::Status::Internal(e.what());
  }
  if (!s.ok()) {
    std::cerr << "distillgate: " << s.ToString() << "\n";
    return s.ExitCode();
  }
  return 0;
}
