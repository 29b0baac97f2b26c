#include "license/knowledge_base.h"

#include <dirent.h>

#include <algorithm>
#include <cctype>

#include "core/canonical_json.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "core/json_schema.h"

namespace dg {

// Generated from policies/licenses/*.json by CMake (builtin_licenses.cc).
extern const std::pair<const char*, const char*> kBuiltinLicenses[];
extern const size_t kBuiltinLicenseCount;

namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

const nlohmann::json* LicenseProfile::Term(const std::string& term) const {
  auto t = doc.find("terms");
  if (t == doc.end()) return nullptr;
  auto it = t->find(term);
  return it == t->end() ? nullptr : &*it;
}

StatusOr<std::shared_ptr<const KnowledgeBase>> KnowledgeBase::FromTexts(
    const std::vector<std::pair<std::string, std::string>>& files) {
  DG_ASSIGN_OR_RETURN(auto schema, JsonSchema::Builtin("license-profile.schema.json"));
  auto kb = std::make_shared<KnowledgeBase>();
  for (const auto& [file, text] : files) {
    DG_ASSIGN_OR_RETURN(nlohmann::json doc, ParseJsonStrict(text, file));
    DG_RETURN_IF_ERROR(schema->Validate(doc, file));
    LicenseProfile p;
    p.doc = doc;
    p.id = doc["id"];
    p.name = doc["name"];
    p.kind = doc["kind"];
    p.provider = doc["provider"];
    p.family = doc.value("family", "");
    p.version = doc["version"];
    p.verified = doc["verified"];
    p.origin = file;
    DG_ASSIGN_OR_RETURN(std::string canon, Canonicalize(doc));
    p.sha256 = HexEncode(Sha256(canon));
    std::vector<std::string> names = {p.id};
    for (const auto& a : doc["aliases"]) names.push_back(a);
    if (doc.contains("hf_license_name")) names.push_back(doc["hf_license_name"]);
    if (doc.contains("hf_license") && doc["hf_license"] != "other") names.push_back(doc["hf_license"]);
    const size_t idx = kb->profiles_.size();
    for (const auto& n : names) {
      auto [it, inserted] = kb->index_.emplace(Lower(n), idx);
      if (!inserted && it->second != idx) {
        return Status::InvalidInput(file + ": name \"" + n + "\" is already used by " + kb->profiles_[it->second].origin);
      }
    }
    kb->profiles_.push_back(std::move(p));
  }
  return std::shared_ptr<const KnowledgeBase>(kb);
}

StatusOr<std::shared_ptr<const KnowledgeBase>> KnowledgeBase::Builtin() {
  static StatusOr<std::shared_ptr<const KnowledgeBase>> kb = [] {
    std::vector<std::pair<std::string, std::string>> files;
    for (size_t i = 0; i < kBuiltinLicenseCount; ++i) {
      files.emplace_back(std::string("policies/licenses/") + kBuiltinLicenses[i].first, kBuiltinLicenses[i].second);
    }
    return FromTexts(files);
  }();
  return kb;
}

StatusOr<std::shared_ptr<const KnowledgeBase>> KnowledgeBase::LoadDirectory(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Status::InvalidInput(dir + ": license directory not found");
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 5 && n.substr(n.size() - 5) == ".json") names.push_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& n : names) {
    DG_ASSIGN_OR_RETURN(std::string text, ReadFile(dir + "/" + n));
    files.emplace_back(dir + "/" + n, std::move(text));
  }
  return FromTexts(files);
}

const LicenseProfile* KnowledgeBase::Find(const std::string& name) const {
  auto it = index_.find(Lower(name));
  return it == index_.end() ? nullptr : &profiles_[it->second];
}

}  // namespace dg
