// Status: the error type of every distillgate library (LevelDB style).
// A Status is either OK or carries a code and a human-readable message that
// names the file, line or JSON pointer involved and what was expected.
#ifndef DISTILLGATE_CORE_STATUS_H_
#define DISTILLGATE_CORE_STATUS_H_

#include <string>
#include <utility>

namespace dg {

class Status {
 public:
  // Codes map one-to-one onto the documented CLI exit codes (see ExitCode()).
  enum class Code {
    kOk = 0,
    kVerifyFailed,  // a signature, hash, proof or ledger check failed (exit 1)
    kInvalidInput,  // malformed file, bad argument, wrong key (exit 2)
    kIoError,       // file system or database failure (exit 3)
    kInternal,      // a bug or an unexpected library failure (exit 3)
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status VerifyFailed(std::string msg) { return Status(Code::kVerifyFailed, std::move(msg)); }
  static Status InvalidInput(std::string msg) { return Status(Code::kInvalidInput, std::move(msg)); }
  static Status IoError(std::string msg) { return Status(Code::kIoError, std::move(msg)); }
  static Status Internal(std::string msg) { return Status(Code::kInternal, std::move(msg)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;
  // The process exit code documented for this status: 0, 1, 2 or 3.
  int ExitCode() const;
  // Returns a copy whose message is "<context>: <message>".
  Status WithContext(const std::string& context) const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the Status explaining why there is none.
template <typename T>
class StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design
  StatusOr(Status status) : status_(std::move(status)) {}  // NOLINT
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return value_; }
  const T& value() const& { return value_; }
  T&& value() && { return std::move(value_); }
  T* operator->() { return &value_; }
  const T* operator->() const { return &value_; }
  T& operator*() & { return value_; }
  const T& operator*() const& { return value_; }
  T&& operator*() && { return std::move(value_); }

 private:
  Status status_;
  T value_{};
};

}  // namespace dg

#define DG_RETURN_IF_ERROR(expr)          \
  do {                                    \
    ::dg::Status dg_status_ = (expr);     \
    if (!dg_status_.ok()) return dg_status_; \
  } while (0)

#define DG_CONCAT_INNER_(a, b) a##b
#define DG_CONCAT_(a, b) DG_CONCAT_INNER_(a, b)
#define DG_ASSIGN_OR_RETURN(lhs, expr) DG_ASSIGN_OR_RETURN_IMPL_(DG_CONCAT_(dg_so_, __LINE__), lhs, expr)
#define DG_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()

#endif  // DISTILLGATE_CORE_STATUS_H_
