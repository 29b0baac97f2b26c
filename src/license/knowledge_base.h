// The license and terms knowledge base: the profiles of policies/licenses/
// (compiled into the binary, or read from a directory), each validated
// against schemas/license-profile.schema.json.
//
// Errors: InvalidInput naming the file and JSON pointer of the first invalid
// profile; nothing is loaded then. Thread safety: a KnowledgeBase is
// immutable once loaded (Builtin() returns one shared instance); any number
// of threads may read it; LicenseProfile pointers live as long as it does.
#ifndef DISTILLGATE_LICENSE_KNOWLEDGE_BASE_H_
#define DISTILLGATE_LICENSE_KNOWLEDGE_BASE_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace dg {

class LicenseTemplate;

// One reference text of a profile (policies/licenses/texts/), as its
// publisher wrote it, pinned by SHA-256.
struct ReferenceText {
  std::string file, sha256, source, version;
  bool spdx_template = false;
  std::string content;  // the file's bytes (their SHA-256 is checked at load)
  // The text compiled for matching (license/text_match.h), built once on
  // first use (thread-safe); InvalidInput for malformed template markup.
  StatusOr<std::shared_ptr<const LicenseTemplate>> Compiled() const;

  struct Cache;
  std::shared_ptr<Cache> cache;  // shared by copies
};

struct LicenseProfile {
  std::string id, name, kind, provider, family, version;
  bool verified = true;
  std::vector<ReferenceText> texts;
  std::vector<std::string> models;  // hub id patterns, `*` a wildcard
  nlohmann::json doc;   // the whole profile, as validated
  std::string sha256;   // of its RFC 8785 canonical form, recorded in decisions
  std::string origin;   // file it came from

  // The term object (value, citation, …) or nullptr when the profile has none.
  const nlohmann::json* Term(const std::string& term) const;
};

class KnowledgeBase {
 public:
  // The profiles and reference texts compiled into the binary.
  static StatusOr<std::shared_ptr<const KnowledgeBase>> Builtin();
  // Every *.json in `dir`, their reference texts in `dir`/texts/; any
  // invalid file is an error naming it.
  static StatusOr<std::shared_ptr<const KnowledgeBase>> LoadDirectory(const std::string& dir);
  // Reads a reference text by file name (as a profile's `texts[].file`).
  using TextReader = std::function<StatusOr<std::string>(const std::string& file)>;
  // From (file name, text) pairs; used by both of the above. A text whose
  // bytes do not hash to the profile's `sha256` is InvalidInput.
  static StatusOr<std::shared_ptr<const KnowledgeBase>> FromTexts(
      const std::vector<std::pair<std::string, std::string>>& files, const TextReader& texts);
  // By id, alias, Hugging Face license/license_name, case-insensitively.
  const LicenseProfile* Find(const std::string& name) const;
  // For "did you mean": the profile id or alias nearest to `name` when it is
  // close enough to be a typo of it (core NearestKey, case-insensitive; an
  // alias in lower case), else "".
  std::string NearestId(const std::string& name) const;
  // The profile whose `models` patterns match a hub id (case-insensitively),
  // e.g. meta-llama/Llama-3.1-8B-Instruct; nullptr when none or several do.
  const LicenseProfile* FindModel(const std::string& hub_id) const;
  const std::vector<LicenseProfile>& profiles() const { return profiles_; }

 private:
  std::vector<LicenseProfile> profiles_;
  std::map<std::string, size_t> index_;  // lower-cased name → profile
};

}  // namespace dg

#endif  // DISTILLGATE_LICENSE_KNOWLEDGE_BASE_H_
