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
  bool builtin = false;  // compiled into the binary (else read from a directory)
  // When a profile of a --licenses directory replaces the built-in profile of
  // the same id: that profile's sha256 (else empty). The gate reports it.
  std::string replaces_sha256;

  // The term object (value, citation, …) or nullptr when the profile has none.
  const nlohmann::json* Term(const std::string& term) const;
  // What it answers to: its id, aliases and Hugging Face license names.
  std::vector<std::string> Names() const;
};

class KnowledgeBase {
 public:
  // The profiles and reference texts compiled into the binary.
  static StatusOr<std::shared_ptr<const KnowledgeBase>> Builtin();
  // Every *.json in `dir`, their reference texts in `dir`/texts/, and
  // nothing else; any invalid file is an error naming it.
  static StatusOr<std::shared_ptr<const KnowledgeBase>> LoadDirectory(const std::string& dir);
  // What `--licenses DIR` means: the built-in profiles and those of `dir`
  // (LoadDirectory) together; a profile of `dir` with a built-in profile's id
  // replaces it (LicenseProfile::replaces_sha256 says so). A name (id, alias,
  // Hugging Face license name) or model pattern of a profile of `dir` that a
  // built-in profile of a different id answers to is InvalidInput naming both
  // files — even where `dir` replaces that built-in profile too, so a
  // replacement cannot drop a name for another profile to take. `dir` empty:
  // the built-in profiles alone.
  static StatusOr<std::shared_ptr<const KnowledgeBase>> BuiltinAnd(const std::string& dir);
  // The profiles every gate of this process uses: BuiltinAnd($DISTILLGATE_LICENSES),
  // the directory a command's --licenses or the project configuration named
  // (cli/dispatch.cc sets the variable, so the trainer process inherits it).
  static StatusOr<std::shared_ptr<const KnowledgeBase>> ForThisProcess();
  // Reads a reference text by file name (as a profile's `texts[].file`).
  using TextReader = std::function<StatusOr<std::string>(const std::string& file)>;
  // From (file name, text) pairs; used by both of the above (`builtin`:
  // these are the compiled-in files). A text whose bytes do not hash to the
  // profile's `sha256` is InvalidInput.
  static StatusOr<std::shared_ptr<const KnowledgeBase>> FromTexts(
      const std::vector<std::pair<std::string, std::string>>& files, const TextReader& texts, bool builtin = false);
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
  // Appends `p` and indexes its names; InvalidInput when one is taken.
  Status Add(LicenseProfile p);
  std::vector<LicenseProfile> profiles_;
  std::map<std::string, size_t> index_;  // lower-cased name → profile
};

}  // namespace dg

#endif  // DISTILLGATE_LICENSE_KNOWLEDGE_BASE_H_
