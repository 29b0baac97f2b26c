#include "license/detect.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <set>
#include <string_view>

#include <yaml-cpp/yaml.h>

#include "core/file_util.h"
#include "license/text_match.h"

namespace dg {
namespace {

// Scalars of a front-matter field: one value, a list, or a list of maps
// with a `name` (some cards write base_model that way).
std::vector<std::string> YamlStrings(const YAML::Node& n) {
  std::vector<std::string> out;
  if (!n) return out;
  if (n.IsScalar()) out.push_back(n.as<std::string>());
  if (n.IsSequence()) {
    for (const auto& e : n) {
      if (e.IsScalar()) out.push_back(e.as<std::string>());
      else if (e.IsMap() && e["name"] && e["name"].IsScalar()) out.push_back(e["name"].as<std::string>());
    }
  }
  return out;
}

// Text after a UTF-8 byte-order mark, if any.
std::string_view WithoutBom(std::string_view s) { return s.substr(0, 3) == "\xEF\xBB\xBF" ? s.substr(3) : s; }

// Files of a model directory are read only when they are regular files of
// a license's size: a FIFO or a device (or a link to one) would hang or
// exhaust memory, and nothing larger is a license.
constexpr uint64_t kMaxEvidenceBytes = 4 << 20;

StatusOr<std::string> ReadEvidence(const std::string& file) {
  struct stat st;
  if (::stat(file.c_str(), &st) != 0) return Status::InvalidInput(file + ": cannot be read");
  if (!S_ISREG(st.st_mode)) return Status::InvalidInput(file + ": not a regular file (a FIFO, device or directory is no license evidence)");
  if (static_cast<uint64_t>(st.st_size) > kMaxEvidenceBytes) {
    return Status::InvalidInput(file + ": " + std::to_string(st.st_size) + " bytes: too large to be a model card or license file");
  }
  return ReadFile(file);
}

bool IsDir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string Upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

bool StartsWith(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

// The role of a file of a model directory, by name; false for other files.
bool RoleOf(const std::string& name, EvidenceRole* role, bool* card) {
  const std::string u = Upper(name);
  *card = false;
  if (u == "README.MD") {
    *card = true;
    *role = EvidenceRole::kModelCard;
    return true;
  }
  if (u.find("MODEL_CARD") != std::string::npos && (u.size() > 3 && u.substr(u.size() - 3) == ".MD")) {
    *card = true;
    *role = EvidenceRole::kModelCardText;
    return true;
  }
  // Any file named for a license (LICENSE, LICENSE.txt, LICENSE-MODEL,
  // MODEL_LICENSE, LLAMA_LICENSE.txt, …).
  const bool license = u.find("LICENSE") != std::string::npos || u.find("LICENCE") != std::string::npos;
  if (license) {
    const bool code = u.find("CODE") != std::string::npos;
    *role = code ? EvidenceRole::kCodeLicense : EvidenceRole::kWeightsLicense;
    return true;
  }
  if (StartsWith(u, "USE_POLICY") || StartsWith(u, "USE-POLICY") || StartsWith(u, "ACCEPTABLE_USE") ||
      StartsWith(u, "ACCEPTABLE-USE") || StartsWith(u, "USAGE_POLICY") || StartsWith(u, "AUP")) {
    *role = EvidenceRole::kUsePolicy;
    return true;
  }
  if (StartsWith(u, "NOTICE")) {
    *role = EvidenceRole::kNotice;
    return true;
  }
  return false;
}

std::string Percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %%", 100 * v);
  return buf;
}

}  // namespace

const char* DetectionStatusName(DetectionStatus s) {
  switch (s) {
    case DetectionStatus::kIdentified: return "identified";
    case DetectionStatus::kModified: return "modified";
    case DetectionStatus::kNotIdentified: return "not_identified";
  }
  return "not_identified";
}

const char* EvidenceRoleName(EvidenceRole r) {
  switch (r) {
    case EvidenceRole::kModelCard: return "model_card";
    case EvidenceRole::kWeightsLicense: return "weights_license";
    case EvidenceRole::kCodeLicense: return "code_license";
    case EvidenceRole::kUsePolicy: return "use_policy";
    case EvidenceRole::kNotice: return "notice";
    case EvidenceRole::kModelCardText: return "model_card_text";
  }
  return "weights_license";
}

bool Governs(EvidenceRole r) { return r == EvidenceRole::kModelCard || r == EvidenceRole::kWeightsLicense; }

StatusOr<Detection> DetectFromModelCard(const std::string& card_text, const std::string& where, const KnowledgeBase& kb) {
  Detection d;
  d.method = "model_card";
  d.role = EvidenceRole::kModelCard;
  d.file = where;
  const std::string card(WithoutBom(card_text));
  // Front matter: the text between a leading "---" line and the next "---" line.
  if (card.compare(0, 3, "---") != 0) {
    return Status::InvalidInput(where + ": model card has no YAML front matter (expected a first line \"---\")");
  }
  size_t start = card.find('\n');
  size_t end = card.find("\n---", start == std::string::npos ? 0 : start);
  if (start == std::string::npos || end == std::string::npos) {
    return Status::InvalidInput(where + ": model card front matter is not closed by a \"---\" line");
  }
  YAML::Node meta;
  try {
    meta = YAML::Load(card.substr(start + 1, end - start));
  } catch (const YAML::Exception& e) {
    return Status::InvalidInput(where + ": line " + std::to_string(e.mark.line + 2) + ": malformed YAML front matter: " + e.msg);
  }
  if (!meta.IsMap()) return Status::InvalidInput(where + ": model card front matter is not a YAML mapping");
  {
    // A key given twice: YAML tools disagree on which wins (the hub's take
    // the last), so the card says two things.
    std::set<std::string> seen;
    for (auto it = meta.begin(); it != meta.end(); ++it) {
      if (!it->first.IsScalar()) continue;
      const std::string key = it->first.as<std::string>();
      if (!seen.insert(key).second) return Status::InvalidInput(where + ": front matter gives `" + key + "` twice");
    }
  }
  std::vector<std::string> licenses, names, links, relation;
  try {
    licenses = YamlStrings(meta["license"]);
    names = YamlStrings(meta["license_name"]);
    links = YamlStrings(meta["license_link"]);
    d.base_models = YamlStrings(meta["base_model"]);
    relation = YamlStrings(meta["base_model_relation"]);
  } catch (const YAML::Exception& e) {
    return Status::InvalidInput(where + ": malformed front matter value: " + e.msg);
  }
  if (!relation.empty()) d.base_model_relation = relation[0];
  if (licenses.empty()) {
    d.evidence.push_back("no `license` field");
    return d;
  }
  if (licenses.size() > 1) {  // several licenses: which governs is for a person to say
    std::string all;
    for (const auto& l : licenses) all += (all.empty() ? "" : ", ") + l;
    d.evidence.push_back("license: [" + all + "] names several licenses");
    d.declared = all;
    return d;
  }
  std::string value = licenses[0];
  d.evidence.push_back("license: " + value);
  if (value == "other" && !names.empty()) {
    value = names[0];
    d.evidence.push_back("license_name: " + value);
  }
  if (!links.empty()) d.evidence.push_back("license_link: " + links[0]);
  d.declared = value;
  if (const LicenseProfile* p = kb.Find(value)) {
    d.license = p->id;
    d.status = DetectionStatus::kIdentified;
    d.coverage = 1;
  } else if (value == "other") {
    d.evidence.push_back("license is `other` without a license_name");
  }
  return d;
}

Detection DetectFromText(const std::string& text, const std::string& where, const KnowledgeBase& kb, EvidenceRole role) {
  Detection d;
  d.method = "license_text";
  d.role = role;
  d.file = where;
  const std::vector<std::string> tokens = LicenseTokens(text);
  if (role == EvidenceRole::kNotice) {
    // A NOTICE identifies a license by the notice text the license requires
    // ("Llama 3.1 is licensed under the Llama 3.1 Community License, …").
    for (const auto& p : kb.profiles()) {
      const nlohmann::json* n = p.Term("notice");
      if (n == nullptr || !(*n)["value"].is_string()) continue;
      const std::vector<std::string> words = LicenseTokens((*n)["value"].get<std::string>());
      if (words.size() >= 6 && std::search(tokens.begin(), tokens.end(), words.begin(), words.end()) != tokens.end()) {
        d.method = "notice_text";
        d.status = DetectionStatus::kIdentified;
        d.license = p.id;
        d.evidence.push_back("holds the notice " + p.name + " requires");
        return d;
      }
    }
  }
  if (tokens.size() < kMinLicenseWords) {
    d.evidence.push_back("the text has " + std::to_string(tokens.size()) + " words: too few to be a license");
    return d;
  }
  // Candidates: the references that share most of their word sequences with
  // the text; each is then matched whole, and the closest diffed.
  struct Candidate {
    double estimate;
    const LicenseProfile* profile;
    const ReferenceText* text;
  };
  std::vector<Candidate> candidates;
  for (const auto& p : kb.profiles()) {
    for (const auto& r : p.texts) {
      auto t = r.Compiled();
      if (!t.ok()) continue;
      candidates.push_back({ContainmentEstimate(tokens, (*t)->reference_tokens()), &p, &r});
    }
  }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) { return a.estimate > b.estimate; });
  std::set<std::string> identified;
  for (const Candidate& c : candidates) {
    if (c.estimate < 0.5) break;
    if ((*c.text->Compiled())->Matches(tokens)) {
      if (identified.empty()) {
        d.license = c.profile->id;
        d.reference = "texts/" + c.text->file;
      }
      identified.insert(c.profile->id);
    }
  }
  if (identified.size() == 1) {
    d.status = DetectionStatus::kIdentified;
    d.coverage = 1;
    d.coverage_exact = true;
    return d;
  }
  if (identified.size() > 1) {  // the same text under several profiles: not an identification
    d.license.clear();
    for (const auto& id : identified) d.runners_up.push_back(id);
    d.evidence.push_back("the text matches the reference of " + std::to_string(identified.size()) + " profiles");
    return d;
  }
  // No whole match: how close is the nearest reference?
  TextComparison best;
  const Candidate* closest = nullptr;
  for (size_t i = 0; i < candidates.size() && i < 3; ++i) {
    const Candidate& c = candidates[i];
    if (c.estimate < 0.3) break;
    TextComparison cmp = CompareTokens(tokens, (*c.text->Compiled())->reference_tokens());
    if (closest == nullptr || cmp.coverage > best.coverage) {
      best = std::move(cmp);
      closest = &c;
    }
  }
  if (closest == nullptr && !candidates.empty()) {
    closest = &candidates.front();
    best.coverage = closest->estimate;
  }
  if (closest == nullptr) return d;
  d.reference = "texts/" + closest->text->file;
  d.coverage = best.coverage;
  d.coverage_exact = best.exact;
  d.added_words = best.added;
  d.removed_words = best.removed;
  if (best.exact && best.coverage >= kModifiedCoverage) {
    d.status = DetectionStatus::kModified;
    d.license = closest->profile->id;
    d.differences = best.differences;
  } else {
    d.evidence.push_back("closest reference: " + closest->profile->id + " (" + Percent(best.coverage) + " of it)");
  }
  return d;
}

StatusOr<std::vector<Detection>> DetectPath(const std::string& path, const KnowledgeBase& kb) {
  std::vector<Detection> out;
  if (IsDir(path)) {
    std::vector<std::string> names;
    if (DIR* dir = ::opendir(path.c_str())) {
      while (dirent* e = ::readdir(dir)) names.push_back(e->d_name);
      ::closedir(dir);
    }
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
      EvidenceRole role;
      bool card = false;
      if (!RoleOf(n, &role, &card)) continue;
      const std::string file = path + "/" + n;
      if (IsDir(file)) continue;
      DG_ASSIGN_OR_RETURN(std::string text, ReadEvidence(file));
      if (card) {
        if (WithoutBom(text).compare(0, 3, "---") == 0) {
          DG_ASSIGN_OR_RETURN(Detection d, DetectFromModelCard(text, file, kb));
          if (role == EvidenceRole::kModelCardText) d.role = EvidenceRole::kModelCardText;
          out.push_back(std::move(d));
        } else if (role == EvidenceRole::kModelCardText) {
          Detection d;
          d.file = file;
          d.role = role;
          d.method = "model_card";
          d.evidence.push_back("a model card without front matter: read for the record, it identifies no license");
          out.push_back(std::move(d));
        }
        continue;
      }
      out.push_back(DetectFromText(text, file, kb, role));
    }
    if (out.empty()) return Status::InvalidInput(path + ": no model card (README.md) or LICENSE/NOTICE file found");
    return out;
  }
  DG_ASSIGN_OR_RETURN(std::string text, ReadEvidence(path));
  if (WithoutBom(text).compare(0, 3, "---") == 0) {
    DG_ASSIGN_OR_RETURN(Detection d, DetectFromModelCard(text, path, kb));
    out.push_back(d);
  } else {
    out.push_back(DetectFromText(text, path, kb));
  }
  return out;
}

std::string GoverningLicense(const std::vector<Detection>& detections) {
  std::string license;
  bool any = false;
  for (const auto& d : detections) {
    if (!Governs(d.role)) continue;
    if (d.status != DetectionStatus::kIdentified) return "";
    if (any && d.license != license) return "";
    license = d.license;
    any = true;
  }
  // The rest of the directory must not contradict it: a use policy or a
  // NOTICE of another model license (the Llama AUP beside `license: mit`).
  for (const auto& d : detections) {
    if (Governs(d.role) || d.role == EvidenceRole::kCodeLicense || d.status != DetectionStatus::kIdentified) continue;
    if (d.license != license) return "";
  }
  return license;
}

nlohmann::json ToJson(const Detection& d) {
  nlohmann::json j = {{"file", d.file},
                      {"role", EvidenceRoleName(d.role)},
                      {"governs", Governs(d.role)},
                      {"method", d.method},
                      {"status", DetectionStatusName(d.status)},
                      {"license", d.license.empty() ? nlohmann::json() : nlohmann::json(d.license)},
                      {"declared", d.declared},
                      {"evidence", d.evidence},
                      {"base_models", d.base_models},
                      {"runners_up", d.runners_up}};
  if (d.method == "license_text") {
    j["coverage"] = d.coverage;
    j["coverage_exact"] = d.coverage_exact;
    j["reference"] = d.reference.empty() ? nlohmann::json() : nlohmann::json(d.reference);
    j["added_words"] = d.added_words;
    j["removed_words"] = d.removed_words;
    j["differences"] = d.differences;
  }
  if (!d.base_model_relation.empty()) j["base_model_relation"] = d.base_model_relation;
  return j;
}

}  // namespace dg
