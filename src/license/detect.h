// Identifying a model's license from the evidence a model directory holds:
// a Hugging Face model card (README.md YAML front matter: license,
// license_name, license_link, base_model) or a LICENSE/terms text.
//
// Reads only the files named (DetectPath: the directory's card and license
// files); never writes. IoError for a file that cannot be read. Safe on any
// thread with a shared KnowledgeBase.
#ifndef DISTILLGATE_LICENSE_DETECT_H_
#define DISTILLGATE_LICENSE_DETECT_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "license/knowledge_base.h"

namespace dg {

struct Detection {
  std::string license;     // profile id; empty when nothing matched
  std::string declared;    // what the evidence says, verbatim (card value or best phrase)
  double confidence = 0;   // 0..1
  std::string method;      // model_card | license_text
  std::string file;        // the evidence file
  std::vector<std::string> evidence;     // matched phrases or card fields
  std::vector<std::string> base_models;  // from the model card
  std::vector<std::string> runners_up;   // other profiles that matched equally well
};

// Below this, a detection does not identify a license: needs review.
inline constexpr double kMinDetectionConfidence = 0.5;

// Lower-cases, folds typographic quotes and dashes to ASCII and collapses
// whitespace, so that reflowed or re-typed texts still match.
std::string NormalizeLicenseText(const std::string& text);

StatusOr<Detection> DetectFromModelCard(const std::string& card_text, const std::string& where, const KnowledgeBase& kb);
Detection DetectFromText(const std::string& text, const std::string& where, const KnowledgeBase& kb);
// A directory (model card, then LICENSE*/NOTICE files), a model card (text
// starting with "---"), or a license text.
StatusOr<std::vector<Detection>> DetectPath(const std::string& path, const KnowledgeBase& kb);

nlohmann::json ToJson(const Detection& d);

}  // namespace dg

#endif  // DISTILLGATE_LICENSE_DETECT_H_
