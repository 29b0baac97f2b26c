// JSON Schema validation (draft 7, via valijson) with errors that name the
// file and the JSON pointer of each offending value. The schemas in
// schemas/ are compiled into the binary, so what the docs publish is exactly
// what the code enforces.
//
// Errors: Validate() returns InvalidInput naming the document; Builtin()
// Internal for a name that is not compiled in; FromFile() IoError/InvalidInput.
// Thread safety: a JsonSchema is immutable once built; one instance (the
// built-ins are cached and shared) may validate on many threads at once.
#ifndef DISTILLGATE_CORE_JSON_SCHEMA_H_
#define DISTILLGATE_CORE_JSON_SCHEMA_H_

#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/status.h"

namespace dg {

class JsonSchema {
 public:
  // A schema from schemas/, by file name, e.g. "inclusion-proof.schema.json".
  // References between those files resolve among them.
  static StatusOr<std::shared_ptr<const JsonSchema>> Builtin(std::string_view file_name);
  // A schema file from elsewhere (e.g. the official CycloneDX or SARIF
  // schemas); draft 4 or 7 by its "$schema"; references to other files
  // resolve by file name in the same directory. For trusted schema files
  // only: valijson's parser recurses without end (and crashes) on a $ref
  // that refers to itself through "definitions".
  static StatusOr<std::shared_ptr<const JsonSchema>> FromFile(const std::string& path);
  ~JsonSchema();

  // What a document violates: the deepest JSON pointer of each violation
  // (a missing member is pointed at by its own name) and what was expected,
  // in pointer order; empty when the document matches.
  struct Violation {
    std::string pointer, what;
  };
  // A document that certainly matches is accepted by a quick pre-check
  // (core/schema_fast_check.h); every other one goes to valijson.
  std::vector<Violation> Violations(const nlohmann::json& doc) const;
  // The same from valijson alone, skipping the pre-check (for tests that
  // hold the pre-check to valijson's verdicts, and for benchmarks).
  std::vector<Violation> ViolationsByValijson(const nlohmann::json& doc) const;
  // The pre-check alone: true only when `doc` certainly matches; false when
  // it does not, or when the pre-check cannot tell (or this schema has none).
  bool QuickAccepts(const nlohmann::json& doc) const;
  // OK, or InvalidInput listing "<where>: <pointer>: <what was expected>"
  // for the first few violations.
  Status Validate(const nlohmann::json& doc, const std::string& where) const;
  const std::string& Name() const;

  class Impl;

 private:
  explicit JsonSchema(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The key of `known` nearest to `key` when it is close enough to be a typo
// of it (at most two edits, or a third of the key; a transposition is one),
// else "". For "did you mean" messages.
std::string NearestKey(const std::string& key, const std::set<std::string>& known);

// The text of a built-in schema, or nullopt-like empty view when unknown.
std::string_view BuiltinSchemaText(std::string_view file_name);

}  // namespace dg

#endif  // DISTILLGATE_CORE_JSON_SCHEMA_H_
