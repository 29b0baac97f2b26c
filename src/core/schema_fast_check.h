// A quick, accept-only pre-check for JSON Schema (draft 7) in front of
// valijson. valijson stays the validator: it decides every rejection and
// writes every error message. This only answers "certainly valid" for the
// common case, so that the many valid lines of a large transcript do not pay
// valijson's generic machinery (as much CPU as parsing the line).
//
// Sound by construction: a keyword it does not implement (pattern, format,
// oneOf, not, if/then/else, ...) compiles to "cannot tell", and so does any
// value it cannot decide exactly (an integral float against "integer", a
// string shorter in bytes than a minLength); "cannot tell" sends the document
// to valijson. tests/schema_test.cc checks Accepts(d) ⇒ valijson accepts d on
// every built-in schema over a corpus of valid and mutated documents.
#ifndef DISTILLGATE_CORE_SCHEMA_FAST_CHECK_H_
#define DISTILLGATE_CORE_SCHEMA_FAST_CHECK_H_

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace dg {

class SchemaFastCheck {
 public:
  // The document of a schema file named in a "$ref" ("x.schema.json"), or
  // nullptr when there is none; called while compiling only.
  using Loader = std::function<const nlohmann::json*(const std::string& file_name)>;

  // The check for `root` (the schema document of file `root_file`); nullptr
  // when the schema is not one it can follow (a $ref it cannot resolve).
  static std::unique_ptr<SchemaFastCheck> Compile(const nlohmann::json& root, const std::string& root_file,
                                                  const Loader& load);
  ~SchemaFastCheck();
  SchemaFastCheck(const SchemaFastCheck&) = delete;
  SchemaFastCheck& operator=(const SchemaFastCheck&) = delete;

  // True only when `doc` certainly matches the schema; false means "ask valijson".
  bool Accepts(const nlohmann::json& doc) const;

  class Impl;

 private:
  explicit SchemaFastCheck(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dg

#endif  // DISTILLGATE_CORE_SCHEMA_FAST_CHECK_H_
