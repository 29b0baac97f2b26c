// Reading entries to append: one JSON object, or JSON Lines (one object a line).
// A pure function of the text (the CLI reads the file or standard input).
#ifndef DISTILLGATE_CLI_ENTRY_INPUT_H_
#define DISTILLGATE_CLI_ENTRY_INPUT_H_

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace dg {

// Every problem names `where`, the line (for JSON Lines) and what was expected.
StatusOr<std::vector<nlohmann::json>> ParseEntryObjects(std::string_view text, const std::string& where);

}  // namespace dg

#endif  // DISTILLGATE_CLI_ENTRY_INPUT_H_
