#include <iostream>

#include "cli/commands.h"

namespace dg::cli {

int ParseAndRun(CLI::App& app, Dispatch& d, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the message
    return 2;
  }
  if (!d.handler) {
    std::cerr << app.help();
    return 2;
  }
  StatusOr<int> code = Status::Internal("the command did not run");
  try {
    code = d.handler();
  } catch (const std::exception& e) {
    code = Status::Internal(e.what());
  }
  if (!code.ok()) {
    std::cerr << "distillgate: " << code.status().ToString() << "\n";
    return code.status().ExitCode();
  }
  return *code;
}

Handler ExitZeroOr(std::function<Status()> body) {
  return [body = std::move(body)]() -> StatusOr<int> {
    DG_RETURN_IF_ERROR(body());
    return 0;
  };
}

}  // namespace dg::cli
