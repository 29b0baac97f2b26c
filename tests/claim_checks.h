// The checks of a claim report that failed (informational notes aside), by
// name: what the verify tests assert on.
#ifndef DISTILLGATE_TESTS_CLAIM_CHECKS_H_
#define DISTILLGATE_TESTS_CLAIM_CHECKS_H_

#include <set>
#include <string>

#include "attest/claim_verify.h"

namespace dg::testing {

inline std::set<std::string> FailedChecks(const ClaimReport& r) {
  std::set<std::string> out;
  for (const auto& c : r.checks) {
    if (!c.ok && !c.informational) out.insert(c.name);
  }
  return out;
}

}  // namespace dg::testing

#endif  // DISTILLGATE_TESTS_CLAIM_CHECKS_H_
