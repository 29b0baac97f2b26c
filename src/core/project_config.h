// The project configuration (docs/project-config.md): a `distillgate.toml`
// (TOML 1.0) in the working directory or the nearest parent that names the
// policy, the ledger, the ledger's key and a directory of extra license
// profiles, so that a team's commands need not repeat them and cannot
// silently leave them out. The CLI applies it (cli/dispatch.cc); the gate
// records which file was used in every decision.
//
// Errors: InvalidInput "FILE:LINE:COLUMN: what was expected" for malformed
// TOML, an unknown key (with the nearest known key), a value that is not a
// non-empty string. Thread safety: the parse and find functions are pure or
// read the file system only; the applied configuration is set once, before
// any command runs, and read-only afterwards.
#ifndef DISTILLGATE_CORE_PROJECT_CONFIG_H_
#define DISTILLGATE_CORE_PROJECT_CONFIG_H_

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace dg {

// The file's name, looked for in each directory from the working one up.
inline constexpr char kProjectConfigName[] = "distillgate.toml";

struct ProjectConfig {
  std::string path;    // the file, absolute
  std::string sha256;  // of its bytes, hex
  // Absolute paths (a relative one is resolved against the file's
  // directory); empty when the file does not set it.
  std::string policy, ledger, key, licenses;

  // What a decision records: {path, sha256, settings: {key: path}}.
  nlohmann::json ToJson() const;
};

// Parses a configuration's text; `path` (absolute) names it in errors and
// anchors relative paths.
StatusOr<ProjectConfig> ParseProjectConfig(std::string_view text, const std::string& path);

// Which configuration a command uses: $DISTILLGATE_CONFIG when set (a file
// path, or "none" for no configuration; a missing file or an empty value is
// InvalidInput), else the nearest distillgate.toml from `start_dir` up to the
// root; nullopt when there is none. Only "not there" moves the search up: a
// candidate that cannot be examined (EACCES on a directory on the way) is
// IoError, and a dangling link, a directory or a FIFO by that name is
// InvalidInput.
StatusOr<std::optional<ProjectConfig>> FindProjectConfig(const std::string& start_dir);

// The configuration this process's command applied (nullopt: none). Set by
// the CLI before the command runs; the gate records it in each decision.
void SetAppliedProjectConfig(std::optional<ProjectConfig> config);
const std::optional<ProjectConfig>& AppliedProjectConfig();

}  // namespace dg

#endif  // DISTILLGATE_CORE_PROJECT_CONFIG_H_
