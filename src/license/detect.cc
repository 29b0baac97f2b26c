#include "license/detect.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>

#include <yaml-cpp/yaml.h>

#include "core/file_util.h"

namespace dg {
namespace {

std::vector<std::string> YamlStrings(const YAML::Node& n) {
  std::vector<std::string> out;
  if (!n) return out;
  if (n.IsScalar()) out.push_back(n.as<std::string>());
  if (n.IsSequence()) {
    for (const auto& e : n) {
      if (e.IsScalar()) out.push_back(e.as<std::string>());
    }
  }
  return out;
}

bool IsDir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

std::string NormalizeLicenseText(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool space = false;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    // U+2018/2019/201C/201D quotes and U+2013/2014 dashes (E2 80 9x).
    if (c == 0xE2 && i + 2 < text.size() && static_cast<unsigned char>(text[i + 1]) == 0x80) {
      unsigned char d = static_cast<unsigned char>(text[i + 2]);
      char repl = 0;
      if (d == 0x98 || d == 0x99) repl = '\'';
      else if (d == 0x9C || d == 0x9D) repl = '"';
      else if (d == 0x93 || d == 0x94) repl = '-';
      if (repl) {
        if (space && !out.empty()) out.push_back(' ');
        space = false;
        out.push_back(repl);
        i += 2;
        continue;
      }
    }
    if (std::isspace(c)) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(static_cast<char>(std::tolower(c)));
  }
  return out;
}

StatusOr<Detection> DetectFromModelCard(const std::string& card_text, const std::string& where, const KnowledgeBase& kb) {
  Detection d;
  d.method = "model_card";
  d.file = where;
  // Front matter: the text between a leading "---" line and the next "---" line.
  if (card_text.compare(0, 3, "---") != 0) {
    return Status::InvalidInput(where + ": model card has no YAML front matter (expected a first line \"---\")");
  }
  size_t start = card_text.find('\n');
  size_t end = card_text.find("\n---", start == std::string::npos ? 0 : start);
  if (start == std::string::npos || end == std::string::npos) {
    return Status::InvalidInput(where + ": model card front matter is not closed by a \"---\" line");
  }
  YAML::Node meta;
  try {
    meta = YAML::Load(card_text.substr(start + 1, end - start));
  } catch (const YAML::Exception& e) {
    return Status::InvalidInput(where + ": line " + std::to_string(e.mark.line + 2) + ": malformed YAML front matter: " + e.msg);
  }
  if (!meta.IsMap()) return Status::InvalidInput(where + ": model card front matter is not a YAML mapping");
  auto licenses = YamlStrings(meta["license"]);
  auto names = YamlStrings(meta["license_name"]);
  auto links = YamlStrings(meta["license_link"]);
  d.base_models = YamlStrings(meta["base_model"]);
  if (licenses.empty()) {
    d.evidence.push_back("no `license` field");
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
    d.confidence = 1.0;
  } else if (value == "other") {
    d.evidence.push_back("license is `other` without a license_name");
  }
  return d;
}

Detection DetectFromText(const std::string& text, const std::string& where, const KnowledgeBase& kb) {
  Detection d;
  d.method = "license_text";
  d.file = where;
  const std::string norm = NormalizeLicenseText(text);
  double best = 0;
  for (const auto& p : kb.profiles()) {
    if (!p.doc.contains("detect")) continue;
    const auto& phrases = p.doc["detect"].value("phrases", nlohmann::json::array());
    if (phrases.empty()) continue;
    std::vector<std::string> hits;
    for (const auto& ph : phrases) {
      if (norm.find(NormalizeLicenseText(ph.get<std::string>())) != std::string::npos) hits.push_back(ph);
    }
    const double score = static_cast<double>(hits.size()) / static_cast<double>(phrases.size());
    if (hits.empty()) continue;
    if (score > best + 1e-9) {
      best = score;
      d.license = p.id;
      d.evidence = hits;
      d.declared = hits.front();
      d.runners_up.clear();
    } else if (score > best - 1e-9) {
      d.runners_up.push_back(p.id);
    }
  }
  // A tie between profiles is not an identification.
  d.confidence = d.runners_up.empty() ? best : best / 2;
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
      std::string upper = n;
      std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
      const std::string file = path + "/" + n;
      if (upper == "README.MD") {
        DG_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
        if (text.compare(0, 3, "---") == 0) {
          DG_ASSIGN_OR_RETURN(Detection d, DetectFromModelCard(text, file, kb));
          out.push_back(d);
        }
      } else if (upper.rfind("LICENSE", 0) == 0 || upper.rfind("LICENCE", 0) == 0 || upper.rfind("NOTICE", 0) == 0 ||
                 upper.rfind("USE_POLICY", 0) == 0) {
        DG_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
        out.push_back(DetectFromText(text, file, kb));
      }
    }
    if (out.empty()) return Status::InvalidInput(path + ": no model card (README.md) or LICENSE/NOTICE file found");
    return out;
  }
  DG_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  if (text.compare(0, 3, "---") == 0) {
    DG_ASSIGN_OR_RETURN(Detection d, DetectFromModelCard(text, path, kb));
    out.push_back(d);
  } else {
    out.push_back(DetectFromText(text, path, kb));
  }
  return out;
}

nlohmann::json ToJson(const Detection& d) {
  return {{"license", d.license.empty() ? nlohmann::json() : nlohmann::json(d.license)},
          {"declared", d.declared},
          {"confidence", d.confidence},
          {"method", d.method},
          {"file", d.file},
          {"evidence", d.evidence},
          {"base_models", d.base_models},
          {"runners_up", d.runners_up}};
}

}  // namespace dg
