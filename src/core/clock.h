// The one clock of distillgate: every time it records, and every date it
// compares (waivers, approvals), comes from here, in UTC. Pure functions of
// the system clock; safe to call from any thread.
#ifndef DISTILLGATE_CORE_CLOCK_H_
#define DISTILLGATE_CORE_CLOCK_H_

#include <cstdint>
#include <optional>
#include <string>

namespace dg {

// Now, as RFC 3339 UTC with whole seconds: "YYYY-MM-DDTHH:MM:SSZ".
std::string NowRfc3339();
// Today's date in UTC: "YYYY-MM-DD".
std::string TodayUtc();
// Seconds since 1970 as RFC 3339 UTC, "YYYY-MM-DDTHH:MM:SSZ" (years 1970 to
// 9999 by arithmetic; others through gmtime_r).
std::string Rfc3339Utc(int64_t unix_seconds);
// The inverse for the times distillgate records: "YYYY-MM-DDTHH:MM:SS" with
// optional fractional seconds, then "Z" or "+HH:MM"/"-HH:MM". nullopt for
// anything else (no leap seconds, no lower-case "t"/"z").
std::optional<int64_t> ParseRfc3339(const std::string& text);

// Who makes a decision, as recorded in it: the DISTILLGATE_OPERATOR
// environment variable (the CLI's global --operator sets it), else the
// system user running the process (getpwuid of the effective uid), else
// "uid N". `source` says which: "given" or "system user".
struct OperatorName {
  std::string name;
  std::string source;
};
OperatorName CurrentOperator();

}  // namespace dg

#endif  // DISTILLGATE_CORE_CLOCK_H_
