// Status and Result<T>: how errors cross module boundaries in doppel (LevelDB style). No exception leaves a public
// function of the core library; every failure is a Status whose message names the file, field or value at fault.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace doppel {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kInvalidArgument,    // the caller's input is wrong (bad value, bad file contents, wrong shape)
    kNotFound,           // a named thing does not exist
    kAlreadyExists,      // a thing that must be new exists
    kIOError,            // the operating system failed a read or write
    kCorruption,         // stored data is damaged
    kUnsupported,        // valid, but doppel cannot handle it (format, layer, dtype)
    kResourceExhausted,  // a limit was hit (file size, pixel count)
    kFailedPrecondition, // the system is not in a state that allows the call (e.g. fingerprint mismatch)
    kInternal,           // a bug or a third-party library failure
    kUnavailable,        // a remote service cannot be reached or refuses work for now (retrying later may help)
    kDeadlineExceeded,   // a remote call did not finish in time (it may or may not have taken effect)
  };

  Status() = default;  // OK
  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string msg) { return Status(Code::kInvalidArgument, std::move(msg)); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status AlreadyExists(std::string msg) { return Status(Code::kAlreadyExists, std::move(msg)); }
  static Status IOError(std::string msg) { return Status(Code::kIOError, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status Unsupported(std::string msg) { return Status(Code::kUnsupported, std::move(msg)); }
  static Status ResourceExhausted(std::string msg) { return Status(Code::kResourceExhausted, std::move(msg)); }
  static Status FailedPrecondition(std::string msg) { return Status(Code::kFailedPrecondition, std::move(msg)); }
  static Status Internal(std::string msg) { return Status(Code::kInternal, std::move(msg)); }
  static Status Unavailable(std::string msg) { return Status(Code::kUnavailable, std::move(msg)); }
  static Status DeadlineExceeded(std::string msg) { return Status(Code::kDeadlineExceeded, std::move(msg)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "InvalidArgument: <message>", or "OK".
  std::string ToString() const;
  // Returns a copy whose message is "<context>: <message>".
  Status WithContext(const std::string& context) const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

const char* CodeName(Status::Code code);

// A value or the Status that explains why there is none. Invariant: has a value iff status().ok().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) status_ = Status::Internal("Result constructed from an OK status without a value");
  }
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace doppel

// Returns early from the enclosing function with the Status of `expr` if it is not OK.
#define DOPPEL_RETURN_IF_ERROR(expr)              \
  do {                                            \
    ::doppel::Status _st = (expr);                \
    if (!_st.ok()) return _st;                    \
  } while (0)

#define DOPPEL_CONCAT_INNER(a, b) a##b
#define DOPPEL_CONCAT(a, b) DOPPEL_CONCAT_INNER(a, b)
// `DOPPEL_ASSIGN_OR_RETURN(auto x, F())` declares x from a Result, or returns its Status.
#define DOPPEL_ASSIGN_OR_RETURN(lhs, rexpr) \
  DOPPEL_ASSIGN_OR_RETURN_IMPL(DOPPEL_CONCAT(_result_, __LINE__), lhs, rexpr)
#define DOPPEL_ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                 \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()
