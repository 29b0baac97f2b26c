#include "core/project_config.h"

#include <cstdlib>
#include <filesystem>
#include <set>
#include <utility>

#include <toml++/toml.h>

#include "core/encoding.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "core/json_schema.h"

namespace dg {

namespace {

namespace fs = std::filesystem;

std::string Where(const std::string& path, const toml::source_region& at) {
  return path + ":" + std::to_string(at.begin.line) + ":" + std::to_string(at.begin.column);
}

std::optional<ProjectConfig>& Applied() {
  static std::optional<ProjectConfig> applied;
  return applied;
}

}  // namespace

nlohmann::json ProjectConfig::ToJson() const {
  nlohmann::json settings = nlohmann::json::object();
  for (const auto& [k, v] : {std::pair<const char*, const std::string*>{"policy", &policy}, {"ledger", &ledger}, {"key", &key},
                             {"licenses", &licenses}}) {
    if (!v->empty()) settings[k] = *v;
  }
  return {{"path", path}, {"sha256", sha256}, {"settings", settings}};
}

StatusOr<ProjectConfig> ParseProjectConfig(std::string_view text, const std::string& path) {
  ProjectConfig c;
  c.path = path;
  c.sha256 = HexEncode(Sha256(text));
  toml::table doc;
  try {
    doc = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return Status::InvalidInput(Where(path, e.source()) + ": not valid TOML: " + std::string(e.description()));
  }
  const std::set<std::string> known = {"policy", "ledger", "key", "licenses"};
  const fs::path base = fs::path(path).parent_path();
  for (auto&& [k, v] : doc) {
    const std::string name(k.str());
    if (known.count(name) == 0) {
      const std::string nearest = NearestKey(name, known);
      return Status::InvalidInput(Where(path, k.source()) + ": unknown key \"" + name + "\"" +
                                  (nearest.empty() ? "" : "; did you mean \"" + nearest + "\"?") +
                                  " (known: policy, ledger, key, licenses)");
    }
    const std::optional<std::string> value = v.value<std::string>();
    if (!v.is_string() || !value || value->empty()) {
      return Status::InvalidInput(Where(path, v.source()) + ": " + name + ": expected a non-empty string (a path)");
    }
    if (value->find('\0') != std::string::npos) {
      return Status::InvalidInput(Where(path, v.source()) + ": " + name + ": a path holds no NUL byte");
    }
    const fs::path p(*value);
    const std::string resolved = (p.is_absolute() ? p : base / p).lexically_normal().string();
    if (name == "policy") c.policy = resolved;
    else if (name == "ledger") c.ledger = resolved;
    else if (name == "key") c.key = resolved;
    else c.licenses = resolved;
  }
  return c;
}

StatusOr<std::optional<ProjectConfig>> FindProjectConfig(const std::string& start_dir) {
  std::string file;
  if (const char* given = std::getenv("DISTILLGATE_CONFIG"); given != nullptr) {
    // Empty (--config= or a variable set to ""): a slip such as
    // --config=$UNSET, not a request to search.
    if (*given == '\0') return Status::InvalidInput("$DISTILLGATE_CONFIG (or --config) is empty; expected a file, or none for no configuration");
    if (std::string(given) == "none") return std::optional<ProjectConfig>();
    file = fs::absolute(given).lexically_normal().string();
    if (!FileExists(file)) return Status::InvalidInput(file + ": project configuration not found (DISTILLGATE_CONFIG or --config)");
  } else {
    std::error_code ec;
    fs::path dir = fs::absolute(start_dir, ec).lexically_normal();
    if (ec) return Status::IoError(start_dir + ": " + ec.message());
    while (true) {
      const fs::path candidate = dir / kProjectConfigName;
      // Not there is the only answer that moves the search up: a file that
      // cannot be examined (a directory we may not search) or a dangling
      // link is an error, never a silent fall-back to a parent's or none.
      const fs::file_status st = fs::symlink_status(candidate, ec);
      if (st.type() != fs::file_type::not_found) {
        if (ec) {
          return Status::IoError(candidate.string() + ": cannot tell whether a project configuration is here (" + ec.message() +
                                 "); expected to read it: fix the permissions, or pass --config FILE or --no-config");
        }
        file = candidate.string();
        break;
      }
      if (!dir.has_parent_path() || dir.parent_path() == dir) return std::optional<ProjectConfig>();
      dir = dir.parent_path();
    }
  }
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    const bool dangling = fs::is_symlink(fs::symlink_status(file, ec)) && !fs::exists(file, ec);
    return Status::InvalidInput(file + ": a project configuration must be a regular file" + (dangling ? " (a link to a missing file)" : ""));
  }
  DG_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
  DG_ASSIGN_OR_RETURN(ProjectConfig c, ParseProjectConfig(text, file));
  return std::optional<ProjectConfig>(std::move(c));
}

void SetAppliedProjectConfig(std::optional<ProjectConfig> config) { Applied() = std::move(config); }

const std::optional<ProjectConfig>& AppliedProjectConfig() { return Applied(); }

}  // namespace dg
