// Internal to src/report: how a report or summary prints one member of a
// JSON object. Pure; safe on any thread.
#ifndef DISTILLGATE_REPORT_MEMBER_TEXT_H_
#define DISTILLGATE_REPORT_MEMBER_TEXT_H_

#include <string>

#include <nlohmann/json.hpp>

namespace dg::report_internal {

// j[key] as text: a string as it is, anything else as JSON; `def` when `j` is
// not an object or the member is absent or null.
inline std::string Str(const nlohmann::json& j, const char* key, const std::string& def = "") {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return def;
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

}  // namespace dg::report_internal

#endif  // DISTILLGATE_REPORT_MEMBER_TEXT_H_
