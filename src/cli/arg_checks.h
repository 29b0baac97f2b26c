// CLI11 validators for numeric arguments, checked on the text as given: a
// negative number is not read as a huge unsigned one, a number past the
// type's range is not cut down, and one outside the allowed range is a usage
// error (exit 2) naming the option and the range.
#ifndef DISTILLGATE_CLI_ARG_CHECKS_H_
#define DISTILLGATE_CLI_ARG_CHECKS_H_

#include <charconv>
#include <cstdint>
#include <limits>
#include <string>

#include <CLI/CLI.hpp>

namespace dg::cli {

// A decimal integer in [lo, hi] (no sign for lo >= 0, no spaces).
inline CLI::Validator IntegerIn(int64_t lo, int64_t hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        int64_t v = 0;
        const char* end = text.data() + text.size();
        const bool digits = !text.empty() && (std::isdigit(static_cast<unsigned char>(text[0])) || (text[0] == '-' && lo < 0));
        auto r = std::from_chars(text.data(), end, v);
        if (!digits || r.ec != std::errc() || r.ptr != end || v < lo || v > hi) {
          return "expected an integer from " + std::to_string(lo) + " to " + std::to_string(hi) + ", got \"" + text + "\"";
        }
        return std::string();
      },
      "INT in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

// Ledger indices and sizes: 0 .. 2^63-1 (SQLite's integers).
inline CLI::Validator LedgerIndex() { return IntegerIn(0, std::numeric_limits<int64_t>::max()); }

// A decimal number in [lo, hi].
inline CLI::Validator NumberIn(double lo, double hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        double v = 0;
        const char* end = text.data() + text.size();
        auto r = std::from_chars(text.data(), end, v);
        if (text.empty() || r.ec != std::errc() || r.ptr != end || !(v >= lo && v <= hi)) {
          return "expected a number from " + std::to_string(lo) + " to " + std::to_string(hi) + ", got \"" + text + "\"";
        }
        return std::string();
      },
      "NUMBER");
}

}  // namespace dg::cli

#endif  // DISTILLGATE_CLI_ARG_CHECKS_H_
