// Identifying a model's license from the evidence a model directory holds: a
// Hugging Face model card (README.md YAML front matter: license,
// license_name, license_link, base_model, base_model_relation) and its
// license files (LICENSE, LICENSE.txt, LICENSE-MODEL / MODEL_LICENSE for the
// weights, LICENSE-CODE for the code, USE_POLICY.md, NOTICE, *MODEL_CARD*.md).
//
// A license text is identified only when it matches one of the knowledge
// base's reference texts whole (license/text_match.h: the SPDX matching
// guidelines); one that contains most of a reference but adds or drops
// material is a *modified* version of it (needs review, with what differs);
// anything else is not identified. No phrase, title or partial copy
// identifies a license.
//
// Reads only the files named (DetectPath: the directory's card and license
// files); never writes. IoError/InvalidInput for a file that cannot be read
// or a card whose front matter is malformed. Safe on any thread with a
// shared KnowledgeBase.
#ifndef DISTILLGATE_LICENSE_DETECT_H_
#define DISTILLGATE_LICENSE_DETECT_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "license/knowledge_base.h"

namespace dg {

enum class DetectionStatus {
  kIdentified,     // the card names a known license, or the text matches a reference whole
  kModified,       // the text is a reference with material additions or deletions
  kNotIdentified,  // no known license (or several equally)
};
const char* DetectionStatusName(DetectionStatus s);  // identified | modified | not_identified

// What a file of a model directory is, for a model: the weights' license
// decides; the others are shown beside it.
enum class EvidenceRole {
  kModelCard,      // README.md front matter
  kWeightsLicense, // LICENSE, LICENSE.txt, LICENSE-MODEL, MODEL_LICENSE, or a single license text given alone
  kCodeLicense,    // LICENSE-CODE
  kUsePolicy,      // USE_POLICY.md, acceptable-use policies
  kNotice,         // NOTICE
  kModelCardText,  // *MODEL_CARD*.md without front matter (read for the record only)
};
const char* EvidenceRoleName(EvidenceRole r);
// True for the evidence that decides a model's license (card, weights license).
bool Governs(EvidenceRole r);

struct Detection {
  std::string file;
  EvidenceRole role = EvidenceRole::kWeightsLicense;
  std::string method;  // model_card | license_text
  DetectionStatus status = DetectionStatus::kNotIdentified;
  std::string license;     // identified: the profile id; modified: the closest profile's id; else ""
  std::string declared;    // model card: the license value as written (license_name for `other`)
  double coverage = 0;     // license_text: share of the closest reference found, in order (0..1)
  bool coverage_exact = false;  // from a full word diff (else an estimate)
  std::string reference;   // license_text: the closest reference text (texts/<file>)
  size_t added_words = 0, removed_words = 0;
  std::vector<std::string> differences;  // modified: what the text adds or omits
  std::vector<std::string> evidence;     // card fields read
  std::vector<std::string> base_models;  // model card: base_model
  std::string base_model_relation;       // model card: base_model_relation
  std::vector<std::string> runners_up;   // other profiles that matched equally well
};

// A text shorter than this many words identifies nothing.
inline constexpr size_t kMinLicenseWords = 20;
// A text that is not a reference but holds at least this share of one, in
// order, is a modified version of it; less is not identified.
inline constexpr double kModifiedCoverage = 0.8;

StatusOr<Detection> DetectFromModelCard(const std::string& card_text, const std::string& where, const KnowledgeBase& kb);
Detection DetectFromText(const std::string& text, const std::string& where, const KnowledgeBase& kb,
                         EvidenceRole role = EvidenceRole::kWeightsLicense);
// A directory (its card and license files), a model card (text starting
// with "---"), or a license text.
StatusOr<std::vector<Detection>> DetectPath(const std::string& path, const KnowledgeBase& kb);

// What the evidence of a model says, all told: the license its governing
// evidence identifies when every governing detection identifies the same
// one; else "" (the caller reports why from the detections).
std::string GoverningLicense(const std::vector<Detection>& detections);

nlohmann::json ToJson(const Detection& d);

}  // namespace dg

#endif  // DISTILLGATE_LICENSE_DETECT_H_
