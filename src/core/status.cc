#include "core/status.h"

namespace dg {

std::string Status::ToString() const {
  switch (code_) {
    case Code::kOk: return "OK";
    case Code::kVerifyFailed: return "verification failed: " + message_;
    case Code::kInvalidInput: return "invalid input: " + message_;
    case Code::kIoError: return "I/O error: " + message_;
    case Code::kInternal: return "internal error: " + message_;
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
  }
  return 3;
}

Status Status::WithContext(const std::string& context) const {
  if (ok()) return *this;
  return Status(code_, context + ": " + message_);
}

}  // namespace dg
