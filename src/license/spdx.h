// SPDX license expressions (SPDX spec v2.3 Annex D): ids, LicenseRef-…,
// "+", WITH exceptions, AND, OR and parentheses. AND binds tighter than OR.
// Pure functions, safe on any thread; InvalidInput for a malformed expression.
#ifndef DISTILLGATE_LICENSE_SPDX_H_
#define DISTILLGATE_LICENSE_SPDX_H_

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace dg {

// One way to satisfy an expression: every license in it applies.
struct SpdxAlternative {
  std::vector<std::string> licenses;    // ids as written, without "+" or WITH
  std::vector<std::string> exceptions;  // WITH exception ids, for the record
};

// Parses `expr` and returns its alternatives (disjunctive normal form): the
// licensee may pick any one alternative ("OR lets the user pick"), and all
// licenses of that alternative apply ("AND needs all"). Errors name the
// position and what was expected.
StatusOr<std::vector<SpdxAlternative>> ParseSpdxExpression(std::string_view expr);

}  // namespace dg

#endif  // DISTILLGATE_LICENSE_SPDX_H_
