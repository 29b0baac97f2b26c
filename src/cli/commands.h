// Command registration for the distillgate CLI. Each Register* function adds
// one group of subcommands; the handlers only parse, call a library and print.
#ifndef DISTILLGATE_CLI_COMMANDS_H_
#define DISTILLGATE_CLI_COMMANDS_H_

#include <functional>

#include <CLI/CLI.hpp>

#include "core/status.h"

namespace dg::cli {

// A handler returns the Status whose ExitCode() becomes the process's.
using Handler = std::function<Status()>;
// Where the chosen handler is stored for main() to run after parsing.
struct Dispatch {
  Handler handler;
};

// Parses, runs the chosen handler and maps its Status to the documented exit
// code (usage errors: 2; --help: 0).
int ParseAndRun(CLI::App& app, Dispatch& d, int argc, char** argv);

void RegisterKeys(CLI::App& app, Dispatch& d);
void RegisterLedger(CLI::App& app, Dispatch& d);
void RegisterProof(CLI::App& app, Dispatch& d);
void RegisterDemo(CLI::App& app, Dispatch& d);
void RegisterLicense(CLI::App& app, Dispatch& d);
void RegisterCheck(CLI::App& app, Dispatch& d);
void RegisterAttest(CLI::App& app, Dispatch& d);
void RegisterReport(CLI::App& app, Dispatch& d);
void RegisterTranscripts(CLI::App& app, Dispatch& d);  // attest, verify, data prove|verify
void RegisterRun(CLI::App& app, Dispatch& d);  // only with LibTorch

}  // namespace dg::cli

#endif  // DISTILLGATE_CLI_COMMANDS_H_
