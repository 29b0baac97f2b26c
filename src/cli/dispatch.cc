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
  Status s;
  try {
    s = d.handler();
  } catch (const std::exception& e) {
    s = Status::Internal(e.what());
  }
  if (!s.ok()) {
    std::cerr << "distillgate: " << s.ToString() << "\n";
    return s.ExitCode();
  }
  return 0;
}

}  // namespace dg::cli
