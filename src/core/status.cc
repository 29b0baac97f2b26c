#include "core/status.h"

#include <cstdio>
#include <cstdlib>

namespace dg {

namespace internal {

void DieReadingError(const Status& status) {
  std::fprintf(stderr, "distillgate: bug: reading the value of an error: %s\n", status.ToString().c_str());
  std::abort();
}

}  // namespace internal

std::string Status::ToString() const {
  switch (code_) {
    case Code::kOk: return "OK";
    case Code::kVerifyFailed: return "verification failed: " + message_;
    case Code::kInvalidInput: return "invalid input: " + message_;
    case Code::kIoError: return "I/O error: " + message_;
    case Code::kInternal: return "internal error: " + message_;
    case Code::kInterrupted: return "interrupted: " + message_;
  }
  return message_;
}

int Status::ExitCode() const {
  switch (code_) {
    case Code::kOk: return 0;
    case Code::kVerifyFailed: return 1;
    case Code::kInvalidInput: return 2;
    case Code::kIoError:
    case Code::kInternal: return 3;
    case Code::kInterrupted: return 128 + signal_;
  }
  return 3;
}

Status Status::WithContext(const std::string& context) const {
  if (ok()) return *this;
  Status s = *this;
  s.message_ = context + ": " + message_;
  return s;
}

}  // namespace dg
