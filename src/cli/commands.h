// Command registration for the distillgate CLI. Each Register* function adds
// one group of subcommands; the handlers only parse, call a library and print.
// A handler returns the process's exit code as a value: no handler ends the
// process itself, so every destructor (an open ledger, a run being
// closed) runs.
#ifndef DISTILLGATE_CLI_COMMANDS_H_
#define DISTILLGATE_CLI_COMMANDS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/status.h"

namespace dg::cli {

// What a handler returns: the exit code of a command that did its work — 0,
// or an outcome that is not an error (1 denied or refused, 4 needs review, 3
// collect's endpoint went down) — or the error whose ExitCode() becomes the
// process's (printed as "distillgate: <error>").
using Handler = std::function<StatusOr<int>()>;
// A handler whose only outcomes are done (exit 0) and an error.
Handler ExitZeroOr(std::function<Status()> body);
// "1 epoch", "3 epochs": `n` and the noun in the number it takes (`plural`
// defaults to `singular` + "s").
std::string Counted(uint64_t n, const std::string& singular, const std::string& plural = "");

// Where the chosen handler is stored for main() to run after parsing.
struct Dispatch {
  Handler handler;
};

// Parses, runs the chosen handler and returns its exit code (usage errors: 2;
// --help and --version: 0; an exception escaping a handler: 3). Adds the
// global options every command takes (--operator, which sets
// DISTILLGATE_OPERATOR for the decisions the command records; --version)
// and `help [COMMAND…]`. An unknown command is exit 2 naming the nearest of
// app's commands and `other_commands` (those main hands to the trainer).
int ParseAndRun(CLI::App& app, Dispatch& d, int argc, char** argv, const std::vector<std::string>& other_commands = {});

void RegisterKeys(CLI::App& app, Dispatch& d);
void RegisterLedger(CLI::App& app, Dispatch& d);
void RegisterProof(CLI::App& app, Dispatch& d);
void RegisterDemo(CLI::App& app, Dispatch& d);
void RegisterLicense(CLI::App& app, Dispatch& d);
void RegisterCheck(CLI::App& app, Dispatch& d);
void RegisterAttest(CLI::App& app, Dispatch& d);
void RegisterReport(CLI::App& app, Dispatch& d);
void RegisterTranscripts(CLI::App& app, Dispatch& d);  // transcripts record|collect|verify
void RegisterAttribute(CLI::App& app, Dispatch& d);    // attribute
void RegisterModel(CLI::App& app, Dispatch& d);        // model hash|sign|verify
void RegisterRun(CLI::App& app, Dispatch& d);  // only with LibTorch

}  // namespace dg::cli

#endif  // DISTILLGATE_CLI_COMMANDS_H_
