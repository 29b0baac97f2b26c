#include "cli/entry_input.h"

#include "core/canonical_json.h"

namespace dg {

StatusOr<std::vector<nlohmann::json>> ParseEntryObjects(std::string_view text, const std::string& where) {
  std::vector<nlohmann::json> out;
  auto whole = ParseJsonStrict(text, where);
  if (whole.ok()) {
    if (!whole->is_object()) {
      return Status::InvalidInput(where + ": expected a JSON object (or JSON Lines of objects), got " +
                                  std::string(whole->type_name()));
    }
    out.push_back(std::move(whole).value());
    return out;
  }
  // Not one JSON text: read it as JSON Lines.
  size_t line_no = 0, pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    ++line_no;
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    auto j = ParseJsonStrict(line, where + ":" + std::to_string(line_no));
    if (!j.ok()) {
      if (line_no == 1) return whole.status();  // more likely one malformed document than JSON Lines
      return j.status();
    }
    if (!j->is_object()) {
      return Status::InvalidInput(where + ":" + std::to_string(line_no) + ": expected a JSON object, got " +
                                  std::string(j->type_name()));
    }
    out.push_back(std::move(j).value());
  }
  if (out.empty()) return Status::InvalidInput(where + ": no entries (expected a JSON object or JSON Lines)");
  return out;
}

}  // namespace dg
