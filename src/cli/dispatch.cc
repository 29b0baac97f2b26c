#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/json_schema.h"
#include "core/project_config.h"

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

// --config FILE and --no-config, anywhere on the line, become
// $DISTILLGATE_CONFIG (FILE, or "none") before the command line is parsed:
// the configuration sets the defaults parsing uses, and the trainer process
// inherits the variable.
void TakeConfigFlags(std::vector<char*>* args) {
  for (size_t i = 1; i < args->size();) {
    const std::string a = (*args)[i];
    if (a == "--") break;  // what follows is operands, not options
    if (a == "--no-config") {
      ::setenv("DISTILLGATE_CONFIG", "none", 1);
      args->erase(args->begin() + static_cast<long>(i));
    } else if (a == "--config" && i + 1 < args->size()) {
      ::setenv("DISTILLGATE_CONFIG", (*args)[i + 1], 1);
      args->erase(args->begin() + static_cast<long>(i), args->begin() + static_cast<long>(i) + 2);
    } else if (a.rfind("--config=", 0) == 0) {
      ::setenv("DISTILLGATE_CONFIG", a.c_str() + 9, 1);
      args->erase(args->begin() + static_cast<long>(i));
    } else {
      ++i;
    }
  }
}

// The commands a project configuration gives defaults to: those that decide,
// record or read the project's ledger. Not the auditor's offline checks
// (verify, data/proof verify, attribute, model), whose inputs must be named.
bool ConfigApplies(const std::string& top) {
  static const std::set<std::string> kNot = {"verify", "data", "proof", "attribute", "model", "demo", "keys"};
  return kNot.count(top) == 0;
}

// Whether two paths name one directory (as spelt, relative or through links).
bool SameDirectory(const std::string& a, const std::string& b) {
  std::error_code ec;
  const auto ca = std::filesystem::weakly_canonical(std::filesystem::absolute(a, ec), ec);
  const auto cb = std::filesystem::weakly_canonical(std::filesystem::absolute(b, ec), ec);
  return !ec && ca == cb;
}

struct ConfigDefault {
  CLI::App* command;
  CLI::Option* option;
};

// Each option of those commands that a setting of `c` names gets it as its
// default (and is no longer required): --policy, --ledger, --licenses, and
// the ledger's key (--key; approve's --ledger-key, its --key being the
// approver's).
void ApplyConfig(CLI::App& app, const ProjectConfig& c, const std::string& top, std::vector<ConfigDefault>* applied) {
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    const std::string t = top.empty() ? sub->get_name() : top;
    if (!ConfigApplies(t)) continue;
    for (CLI::Option* opt : sub->get_options()) {
      std::string key;
      if (opt->check_lname("policy")) key = "policy";
      else if (opt->check_lname("ledger")) key = "ledger";
      else if (opt->check_lname("licenses")) key = "licenses";
      else if (t == "approve" ? opt->check_lname("ledger-key") : opt->check_lname("key")) key = "key";
      const std::string& value = key == "policy" ? c.policy : key == "ledger" ? c.ledger : key == "licenses" ? c.licenses : c.key;
      if (key.empty() || value.empty()) continue;
      opt->run_callback_for_default();
      opt->default_val(value);
      opt->required(false);
      opt->description(opt->get_description() + " [default from " + c.path + "]");
      applied->push_back({sub, opt});
    }
    ApplyConfig(*sub, c, t, applied);
  }
}

}  // namespace

int ParseAndRun(CLI::App& app, Dispatch& d, int argc, char** argv, const std::vector<std::string>& other_commands) {
  std::string operator_name;
  app.add_option("--operator", operator_name,
                 "Who runs this command, recorded in every decision it makes (default: $DISTILLGATE_OPERATOR, else the "
                 "system user)");
  app.set_version_flag("--version", std::string("distillgate ") + DISTILLGATE_VERSION);
  FallThrough(app);
  static std::string config_flag;  // taken out of the line before parsing (TakeConfigFlags); here for --help
  app.add_option("--config", config_flag, "The project configuration to use (default: $DISTILLGATE_CONFIG, else distillgate.toml here or in "
                              "the nearest parent; docs/project-config.md)");
  app.add_flag("--no-config", "Use no project configuration");
  std::vector<char*> kept(argv, argv + argc);
  TakeConfigFlags(&kept);
  argc = static_cast<int>(kept.size());
  kept.push_back(nullptr);
  argv = kept.data();
  StatusOr<std::optional<ProjectConfig>> config = FindProjectConfig(".");
  if (!config.ok()) {
    std::cerr << "distillgate: " << config.status().ToString() << "\n";
    return config.status().ExitCode();
  }
  std::vector<ConfigDefault> from_config;
  if (config->has_value()) {
    // Every gate of this process (and the trainer's) reads the extra profiles
    // from $DISTILLGATE_LICENSES, and check's --licenses defaults to the
    // file's: a variable naming another directory would make the two differ.
    const char* env_licenses = std::getenv("DISTILLGATE_LICENSES");
    if (!(*config)->licenses.empty() && env_licenses != nullptr && *env_licenses != '\0' &&
        !SameDirectory(env_licenses, (*config)->licenses)) {
      const Status conflict = Status::InvalidInput("$DISTILLGATE_LICENSES (" + std::string(env_licenses) + ") and licenses = \"" +
                                                   (*config)->licenses + "\" of " + (*config)->path +
                                                   " name different license directories; expected one: unset the variable, or pass --no-config");
      std::cerr << "distillgate: " << conflict.ToString() << "\n";
      return conflict.ExitCode();
    }
    ApplyConfig(app, **config, "", &from_config);
    if (!(*config)->licenses.empty()) ::setenv("DISTILLGATE_LICENSES", (*config)->licenses.c_str(), 1);
    SetAppliedProjectConfig(**config);
  }
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
  // Say which settings came from the configuration (stderr: stdout may be JSON).
  std::string used;
  for (const ConfigDefault& c : from_config) {
    if (c.command->parsed() && c.option->count() == 0) used += (used.empty() ? "" : ", ") + c.option->get_name();
  }
  if (!used.empty()) std::cerr << "distillgate: " << used << " from " << (*config)->path << "\n";
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
