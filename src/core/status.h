// Status: the error type of every distillgate library (LevelDB style).
// A Status is either OK or carries a code and a human-readable message that
// names the file, line or JSON pointer involved and what was expected.
#ifndef DISTILLGATE_CORE_STATUS_H_
#define DISTILLGATE_CORE_STATUS_H_

#include <optional>
#include <string>
#include <utility>

namespace dg {

class Status;
namespace internal {
// Prints "reading the value of an error: <status>" to stderr and aborts.
[[noreturn]] void DieReadingError(const Status& status);
}  // namespace internal

// A Status is a value type; functions returning one are [[nodiscard]] (the
// class is), so an error cannot be dropped silently: where ignoring one is
// right, say so with IgnoreError() or a (void) cast and a comment.
class [[nodiscard]] Status {
 public:
  // Codes map one-to-one onto the documented CLI exit codes (see ExitCode()).
  enum class Code {
    kOk = 0,
    kVerifyFailed,  // a signature, hash, proof or ledger check failed (exit 1)
    kInvalidInput,  // malformed file, bad argument, wrong key (exit 2)
    kIoError,       // file system or database failure (exit 3)
    kInternal,      // a bug or an unexpected library failure (exit 3)
    kInterrupted,   // stopped by SIGINT or SIGTERM (exit 128 + the signal: 130, 143)
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status VerifyFailed(std::string msg) { return Status(Code::kVerifyFailed, std::move(msg)); }
  static Status InvalidInput(std::string msg) { return Status(Code::kInvalidInput, std::move(msg)); }
  static Status IoError(std::string msg) { return Status(Code::kIoError, std::move(msg)); }
  static Status Internal(std::string msg) { return Status(Code::kInternal, std::move(msg)); }
  // `signal` is the signal number that stopped the work (SIGINT, SIGTERM).
  static Status Interrupted(int signal, std::string msg) {
    Status s(Code::kInterrupted, std::move(msg));
    s.signal_ = signal;
    return s;
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;
  // The process exit code documented for this status: 0, 1, 2 or 3, or
  // 128 + the signal for kInterrupted.
  int ExitCode() const;
  int signal() const { return signal_; }  // kInterrupted: the signal; else 0
  // Returns a copy whose message is "<context>: <message>".
  Status WithContext(const std::string& context) const;
  // Drops the status on purpose (a best-effort step whose failure changes
  // nothing the caller reports).
  void IgnoreError() const {}

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  int signal_ = 0;
  std::string message_;
};

// A value or the Status explaining why there is none (absl::StatusOr's
// contract). Reading the value of an error is a bug: value(), * and ->
// abort the process with the status message instead of returning a
// made-up value. T need not be default-constructible. Constructing one from
// an OK Status is a bug too: it becomes an Internal error.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design
  StatusOr(Status status) : status_(std::move(status)) {   // NOLINT
    if (status_.ok()) status_ = Status::Internal("StatusOr made from an OK Status without a value");
  }
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return Checked(); }
  const T& value() const& { return Checked(); }
  T&& value() && { return std::move(Checked()); }
  T* operator->() { return &Checked(); }
  const T* operator->() const { return &Checked(); }
  T& operator*() & { return Checked(); }
  const T& operator*() const& { return Checked(); }
  T&& operator*() && { return std::move(Checked()); }
  // The value, or `fallback` when there is none.
  T value_or(T fallback) const& { return ok() ? *value_ : std::move(fallback); }

 private:
  T& Checked() {
    if (!value_) internal::DieReadingError(status_);
    return *value_;
  }
  const T& Checked() const {
    if (!value_) internal::DieReadingError(status_);
    return *value_;
  }
  Status status_;
  std::optional<T> value_;
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
