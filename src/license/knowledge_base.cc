#include "license/knowledge_base.h"

#include <dirent.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>

#include "core/canonical_json.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "core/json_schema.h"
#include "license/text_match.h"

namespace dg {

// Generated from policies/licenses/*.json by CMake (builtin_licenses.cc).
extern const std::pair<const char*, const char*> kBuiltinLicenses[];
extern const size_t kBuiltinLicenseCount;
// Generated from policies/licenses/texts/*.txt (builtin_license_texts.cc).
struct EmbeddedText {
  const char* name;
  const char* data;
  size_t size;
};
extern const EmbeddedText kBuiltinLicenseTexts[];
extern const size_t kBuiltinLicenseTextCount;

struct ReferenceText::Cache {
  std::once_flag once;
  StatusOr<std::shared_ptr<const LicenseTemplate>> compiled = Status::Internal("not compiled");
};

StatusOr<std::shared_ptr<const LicenseTemplate>> ReferenceText::Compiled() const {
  if (!cache) return Status::Internal(file + ": no text loaded");
  std::call_once(cache->once, [this] {
    auto t = LicenseTemplate::Compile(content, spdx_template, "policies/licenses/texts/" + file);
    if (t.ok()) {
      cache->compiled = std::shared_ptr<const LicenseTemplate>(std::make_shared<LicenseTemplate>(std::move(t).value()));
    } else {
      cache->compiled = t.status();
    }
  });
  return cache->compiled;
}

namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// `*` matches any run of characters (lower-cased inputs).
bool GlobMatch(const std::string& pattern, const std::string& s) {
  size_t p = 0, i = 0, star = std::string::npos, mark = 0;
  while (i < s.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = i;
    } else if (p < pattern.size() && pattern[p] == s[i]) {
      ++p, ++i;
    } else if (star != std::string::npos) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace

const nlohmann::json* LicenseProfile::Term(const std::string& term) const {
  auto t = doc.find("terms");
  if (t == doc.end()) return nullptr;
  auto it = t->find(term);
  return it == t->end() ? nullptr : &*it;
}

StatusOr<std::shared_ptr<const KnowledgeBase>> KnowledgeBase::FromTexts(
    const std::vector<std::pair<std::string, std::string>>& files, const TextReader& texts, bool builtin) {
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
    p.builtin = builtin;
    for (const auto& t : doc.value("texts", nlohmann::json::array())) {
      ReferenceText r;
      r.file = t["file"];
      r.sha256 = t["sha256"];
      r.source = t["source"];
      r.version = t.value("version", "");
      r.spdx_template = t.value("template", false);
      auto content = texts(r.file);
      if (!content.ok()) return content.status().WithContext(file + ": /texts: " + r.file);
      r.content = std::move(content).value();
      if (HexEncode(Sha256(r.content)) != r.sha256) {
        return Status::InvalidInput(file + ": /texts: " + r.file + " does not hash to its pinned sha256 " + r.sha256);
      }
      r.cache = std::make_shared<ReferenceText::Cache>();
      p.texts.push_back(std::move(r));
    }
    p.models = doc.value("models", std::vector<std::string>{});
    DG_ASSIGN_OR_RETURN(std::string canon, Canonicalize(doc));
    p.sha256 = HexEncode(Sha256(canon));
    DG_RETURN_IF_ERROR(kb->Add(std::move(p)));
  }
  return std::shared_ptr<const KnowledgeBase>(kb);
}

Status KnowledgeBase::Add(LicenseProfile p) {
  std::vector<std::string> names = {p.id};
  for (const auto& a : p.doc["aliases"]) names.push_back(a);
  if (p.doc.contains("hf_license_name")) names.push_back(p.doc["hf_license_name"]);
  if (p.doc.contains("hf_license") && p.doc["hf_license"] != "other") names.push_back(p.doc["hf_license"]);
  const size_t idx = profiles_.size();
  for (const auto& n : names) {
    auto [it, inserted] = index_.emplace(Lower(n), idx);
    if (!inserted && it->second != idx) {
      return Status::InvalidInput(p.origin + ": name \"" + n + "\" is already used by " + profiles_[it->second].origin);
    }
  }
  profiles_.push_back(std::move(p));
  return Status::Ok();
}

StatusOr<std::shared_ptr<const KnowledgeBase>> KnowledgeBase::BuiltinAnd(const std::string& dir) {
  DG_ASSIGN_OR_RETURN(auto builtin, Builtin());
  if (dir.empty()) return builtin;
  DG_ASSIGN_OR_RETURN(auto extra, LoadDirectory(dir));
  std::map<std::string, const LicenseProfile*> given;  // id → the directory's profile
  for (const auto& p : extra->profiles()) given[p.id] = &p;
  auto kb = std::make_shared<KnowledgeBase>();
  for (const auto& p : builtin->profiles()) {
    if (given.count(p.id) == 0) DG_RETURN_IF_ERROR(kb->Add(p));
  }
  for (const auto& p : extra->profiles()) {
    LicenseProfile own = p;
    if (const LicenseProfile* old = builtin->Find(p.id); old != nullptr && old->id == p.id) own.replaces_sha256 = old->sha256;
    DG_RETURN_IF_ERROR(kb->Add(std::move(own)));
  }
  return std::shared_ptr<const KnowledgeBase>(kb);
}

StatusOr<std::shared_ptr<const KnowledgeBase>> KnowledgeBase::ForThisProcess() {
  const char* dir = std::getenv("DISTILLGATE_LICENSES");
  return BuiltinAnd(dir == nullptr ? "" : dir);
}

StatusOr<std::shared_ptr<const KnowledgeBase>> KnowledgeBase::Builtin() {
  static StatusOr<std::shared_ptr<const KnowledgeBase>> kb = [] {
    std::vector<std::pair<std::string, std::string>> files;
    for (size_t i = 0; i < kBuiltinLicenseCount; ++i) {
      files.emplace_back(std::string("policies/licenses/") + kBuiltinLicenses[i].first, kBuiltinLicenses[i].second);
    }
    return FromTexts(files, [](const std::string& name) -> StatusOr<std::string> {
      for (size_t i = 0; i < kBuiltinLicenseTextCount; ++i) {
        if (kBuiltinLicenseTexts[i].name != nullptr && name == kBuiltinLicenseTexts[i].name) {
          return std::string(kBuiltinLicenseTexts[i].data, kBuiltinLicenseTexts[i].size);
        }
      }
      return Status::Internal("policies/licenses/texts/" + name + " is not compiled in");
    }, /*builtin=*/true);
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
  return FromTexts(files, [dir](const std::string& name) { return ReadFile(dir + "/texts/" + name); });
}

const LicenseProfile* KnowledgeBase::Find(const std::string& name) const {
  auto it = index_.find(Lower(name));
  return it == index_.end() ? nullptr : &profiles_[it->second];
}

std::string KnowledgeBase::NearestId(const std::string& name) const {
  std::set<std::string> names;
  for (const auto& [n, i] : index_) names.insert(n);
  const std::string nearest = NearestKey(Lower(name), names);
  if (nearest.empty()) return "";
  const std::string& id = profiles_[index_.at(nearest)].id;
  return Lower(id) == nearest ? id : nearest;  // the id as spelt, or the alias that is nearest
}

const LicenseProfile* KnowledgeBase::FindModel(const std::string& hub_id) const {
  const std::string id = Lower(hub_id);
  const LicenseProfile* found = nullptr;
  for (const auto& p : profiles_) {
    for (const auto& pattern : p.models) {
      if (!GlobMatch(Lower(pattern), id)) continue;
      if (found != nullptr && found != &p) return nullptr;  // two licenses claim it: not known
      found = &p;
    }
  }
  return found;
}

}  // namespace dg
