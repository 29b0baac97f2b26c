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

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace dg {

struct LicenseProfile {
  std::string id, name, kind, provider, family, version;
  bool verified = true;
  nlohmann::json doc;   // the whole profile, as validated
  std::string sha256;   // of its RFC 8785 canonical form, recorded in decisions
  std::string origin;   // file it came from

  // The term object (value, citation, …) or nullptr when the profile has none.
  const nlohmann::json* Term(const std::string& term) const;
};

class KnowledgeBase {
 public:
  // The profiles compiled into the binary.
  static StatusOr<std::shared_ptr<const KnowledgeBase>> Builtin();
  // Every *.json in `dir`; any invalid file is an error naming it.
  static StatusOr<std::shared_ptr<const KnowledgeBase>> LoadDirectory(const std::string& dir);
  // From (file name, text) pairs; used by both of the above.
  static StatusOr<std::shared_ptr<const KnowledgeBase>> FromTexts(
      const std::vector<std::pair<std::string, std::string>>& files);

  // By id, alias, Hugging Face license/license_name, case-insensitively.
  const LicenseProfile* Find(const std::string& name) const;
  const std::vector<LicenseProfile>& profiles() const { return profiles_; }

 private:
  std::vector<LicenseProfile> profiles_;
  std::map<std::string, size_t> index_;  // lower-cased name → profile
};

}  // namespace dg

#endif  // DISTILLGATE_LICENSE_KNOWLEDGE_BASE_H_
