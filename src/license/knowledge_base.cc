#include "license/knowledge_base.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

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

std::vector<std::string> LicenseProfile::Names() const {
  std::vector<std::string> names = {id};
  for (const auto& a : doc["aliases"]) names.push_back(a);
  if (doc.contains("hf_license_name")) names.push_back(doc["hf_license_name"]);
  if (doc.contains("hf_license") && doc["hf_license"] != "other") names.push_back(doc["hf_license"]);
  return names;
}

Status KnowledgeBase::Add(LicenseProfile p) {
  const std::vector<std::string> names = p.Names();
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
    // A name or model a built-in profile of another id answers to stays
    // that profile's, even where the directory replaces it (and its
    // replacement drops the name): a directory cannot capture it.
    for (const std::string& n : p.Names()) {
      const LicenseProfile* owner = builtin->Find(n);
      if (owner != nullptr && owner->id != p.id) {
        return Status::InvalidInput(p.origin + ": name \"" + n + "\" is already used by " + owner->origin + " (built-in profile " + owner->id +
                                    "); a directory may replace that profile under its own id, not take its names");
      }
    }
    for (const std::string& m : p.models) {
      const LicenseProfile* owner = builtin->FindModel(m);
      if (owner != nullptr && owner->id != p.id) {
        return Status::InvalidInput(p.origin + ": /models: \"" + m + "\" is a model of " + owner->origin + " (built-in profile " + owner->id +
                                    "); a directory may replace that profile under its own id, not take its models");
      }
    }
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

namespace {

// A profile or reference text of a --licenses directory: a regular file (a
// FIFO would block, a device never end) of a size a license has.
constexpr uint64_t kMaxLicenseFileBytes = 4u << 20;
StatusOr<std::string> ReadLicenseFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::InvalidInput(path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return Status::InvalidInput(path + ": not a regular file; expected a license profile or text");
  if (static_cast<uint64_t>(st.st_size) > kMaxLicenseFileBytes) {
    return Status::InvalidInput(path + ": " + std::to_string(st.st_size) + " bytes; a license profile or text is at most " +
                                std::to_string(kMaxLicenseFileBytes) + " bytes");
  }
  return ReadFile(path);
}

}  // namespace

StatusOr<std::shared_ptr<const KnowledgeBase>> KnowledgeBase::LoadDirectory(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Status::InvalidInput(dir + ": license directory not found");
  std::vector<std::string> names;
  std::string miscased;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.size() <= 5) continue;
    const std::string ext = n.substr(n.size() - 5);
    if (ext == ".json") names.push_back(n);
    else if (Lower(ext) == ".json") miscased = n;
  }
  ::closedir(d);
  if (!miscased.empty()) {
    return Status::InvalidInput(dir + "/" + miscased + ": profiles are read from files named *.json (lower case); expected " +
                                miscased.substr(0, miscased.size() - 5) + ".json, or move the file out of " + dir);
  }
  std::sort(names.begin(), names.end());
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& n : names) {
    DG_ASSIGN_OR_RETURN(std::string text, ReadLicenseFile(dir + "/" + n));
    files.emplace_back(dir + "/" + n, std::move(text));
  }
  return FromTexts(files, [dir](const std::string& name) { return ReadLicenseFile(dir + "/texts/" + name); });
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
