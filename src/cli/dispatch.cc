#include <cstdlib>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/json_schema.h"

namespace dg::cli {

namespace {

// --operator is accepted after any subcommand: every level passes options it
// does not know up to its parent.
void FallThrough(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    sub->fallthrough();
    FallThrough(*sub);
  }
}

// `distillgate help [COMMAND [SUBCOMMAND…]]`: that command's --help.
std::vector<std::string> HelpArgs(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 2; i < argc; ++i) args.emplace_back(argv[i]);
  args.emplace_back("--help");
  return args;
}

}  // namespace

int ParseAndRun(CLI::App& app, Dispatch& d, int argc, char** argv, const std::vector<std::string>& other_commands) {
  std::string operator_name;
  app.add_option("--operator", operator_name,
                 "Who runs this command, recorded in every decision it makes (default: $DISTILLGATE_OPERATOR, else the "
                 "system user)");
  app.set_version_flag("--version", std::string("distillgate ") + DISTILLGATE_VERSION);
  FallThrough(app);
  std::set<std::string> commands(other_commands.begin(), other_commands.end());
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) commands.insert(sub->get_name());
  commands.insert("help");
  std::vector<std::string> help_args;
  std::vector<char*> help_argv;
  if (argc >= 2 && std::string(argv[1]) == "help") {
    if (argc == 2) {
      std::cout << app.help();
      return 0;
    }
    help_args = HelpArgs(argc, argv);
    help_argv = {argv[0]};
    for (std::string& a : help_args) help_argv.push_back(a.data());
    argc = static_cast<int>(help_argv.size());
    argv = help_argv.data();
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // The first word that is not an option names the command: a typo of one
    // gets the nearest command, not "A subcommand is required".
    if (argc >= 2 && argv[1][0] != '-' && commands.count(argv[1]) == 0) {
      const std::string nearest = NearestKey(argv[1], commands);
      std::cerr << "distillgate: unknown command \"" << argv[1] << "\""
                << (nearest.empty() ? "" : "; did you mean `" + nearest + "`?") << " (distillgate --help lists them)\n";
      return 2;
    }
    app.exit(e);  // prints the message
    return 2;
  }
  if (!operator_name.empty()) ::setenv("DISTILLGATE_OPERATOR", operator_name.c_str(), 1);
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

std::string Counted(uint64_t n, const std::string& singular, const std::string& plural) {
  return std::to_string(n) + " " + (n == 1 ? singular : plural.empty() ? singular + "s" : plural);
}

Handler ExitZeroOr(std::function<Status()> body) {
  return [body = std::move(body)]() -> StatusOr<int> {
    DG_RETURN_IF_ERROR(body());
    return 0;
  };
}

}  // namespace dg::cli
