// RFC 8785 JSON Canonicalization Scheme (JCS), and a strict JSON parser.
//
// Everything distillgate hashes or signs that is JSON is first serialized with
// Canonicalize(): object members sorted by their UTF-16 code units, no
// whitespace, strings escaped as RFC 8785 §3.2.2.2 says, numbers written as
// ECMAScript's Number.prototype.toString (RFC 8785 §3.2.2.3).
//
// Errors are InvalidInput naming `where` (and the byte offset for the
// parser). The functions are pure and safe on any thread; a
// CanonicalObjectBuilder is used by one thread, a CanonicalObjectWithHole is
// an immutable value.
#ifndef DISTILLGATE_CORE_CANONICAL_JSON_H_
#define DISTILLGATE_CORE_CANONICAL_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "core/status.h"

namespace dg {

// The deepest nesting of arrays and objects distillgate reads or writes: the
// strict parser refuses deeper input, Canonicalize() deeper values and
// IsCanonicalJson() deeper text, so no input can exhaust the stack.
inline constexpr int kMaxJsonDepth = 256;

// Fails (InvalidInput) on NaN/Infinity, on integers outside ±(2^53-1), which
// an IEEE-754 double (the JCS number model) cannot hold exactly, on doubles of
// magnitude in [2^53, 1e21) (written without an exponent they would read as
// such integers), and on values nested deeper than kMaxJsonDepth.
StatusOr<std::string> Canonicalize(const nlohmann::json& value);

// Appends the canonical form of `value` to *out (on failure *out is left
// with part of it): for hashing many values without a string each.
Status AppendCanonical(const nlohmann::json& value, std::string* out);

// An RFC 8785 object with one unsigned-integer member whose value is not
// known yet (e.g. a sequence number that only the reader in file order
// knows, while the rest is built on a worker thread). Only
// CanonicalObjectBuilder::FinishWithHole() makes one, so filled it is
// canonical by construction and need not be checked again.
class CanonicalObjectWithHole {
 public:
  CanonicalObjectWithHole() = default;  // empty: no object; AppendFilled() fails
  bool empty() const { return head_.empty(); }
  // Appends the object with `value` in the hole (up to 2^53-1) to *out.
  Status AppendFilled(uint64_t value, std::string* out) const;
  size_t size() const { return head_.size() + tail_.size(); }  // less the value

 private:
  friend class CanonicalObjectBuilder;
  std::string head_, tail_;
};

// Writes one RFC 8785 object member by member, without building a DOM: the
// caller gives the members in canonical order (by the UTF-16 code units of
// their names; a key out of order is an error at Finish()). For hot paths
// that hash objects of a fixed shape (e.g. a teacher call a line).
class CanonicalObjectBuilder {
 public:
  CanonicalObjectBuilder& String(std::string_view key, std::string_view value);
  CanonicalObjectBuilder& Bool(std::string_view key, bool value);
  CanonicalObjectBuilder& Null(std::string_view key);
  CanonicalObjectBuilder& Uint(std::string_view key, uint64_t value);  // up to 2^53-1
  CanonicalObjectBuilder& Value(std::string_view key, const nlohmann::json& value);
  // Another builder's object (finished) as the value of `key`.
  CanonicalObjectBuilder& Object(std::string_view key, CanonicalObjectBuilder&& object);
  // The member whose unsigned-integer value FinishWithHole()'s result is
  // given later; one per object.
  CanonicalObjectBuilder& Hole(std::string_view key);
  // The object's text, or the first error (also: a Hole() was made).
  StatusOr<std::string> Finish();
  // The object with its hole, or the first error (also: no Hole()).
  StatusOr<CanonicalObjectWithHole> FinishWithHole();

 private:
  void Member(std::string_view key);
  std::string text_;
  std::string head_;  // the text up to the hole
  bool holed_ = false;
  std::string last_key_;
  bool first_ = true;
  Status status_ = Status::Ok();
};

// Parses one JSON text strictly: valid UTF-8, no duplicate object keys, no
// trailing content. `where` names the source (a file path) for messages.
StatusOr<nlohmann::json> ParseJsonStrict(std::string_view text, const std::string& where);

// True when `text` is exactly what Canonicalize() would produce for the JSON
// value it denotes (same number policy), checked in one pass without building
// a DOM. On false, *why (if given) says what is not canonical. When
// `top_level_members` is given and the value is an object, it receives the
// object's member count.
bool IsCanonicalJson(std::string_view text, std::string* why = nullptr, size_t* top_level_members = nullptr);

// Reads and strictly parses a JSON file; errors name the file.
StatusOr<nlohmann::json> LoadJsonFile(const std::string& path);

// One reference token of an RFC 6901 JSON pointer: "~" as "~0", "/" as "~1".
std::string EscapePointerToken(const std::string& token);

// ECMAScript Number::toString of a finite double (exposed for tests).
std::string FormatJcsNumber(double v);

}  // namespace dg

#endif  // DISTILLGATE_CORE_CANONICAL_JSON_H_
