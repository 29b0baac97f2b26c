// Whole-text license matching, after the SPDX License List Matching
// Guidelines (spdx.github.io/spdx-spec/v2.3/license-matching-guidelines-and-templates):
// a text is the same license as a reference only when it matches the whole
// reference once both are normalised — whitespace, case, punctuation, code
// comment markers, bullets and list numbering, copyright notices, varietal
// spellings (licence/license, …) and http/https are not significant — and the
// replaceable (<<var;…>>) and omittable (<<beginOptional>>…<<endOptional>>)
// parts of an SPDX license-list-data template may vary as the template says.
// A phrase, a title or a partial copy never matches.
//
// For texts that do not match whole, CompareTokens() measures how much of a
// reference they contain (coverage) and lists what they add or omit, so a
// "modified" license can be reported as such.
//
// Pure functions and immutable values: safe on any thread.
#ifndef DISTILLGATE_LICENSE_TEXT_MATCH_H_
#define DISTILLGATE_LICENSE_TEXT_MATCH_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace dg {

// The normalised words of a license text, in order (see above). Bounded:
// at most kMaxLicenseTokens (a longer text is cut there, and no reference
// is that long).
inline constexpr size_t kMaxLicenseTokens = 60000;
std::vector<std::string> LicenseTokens(std::string_view text);

// A reference text compiled for matching: an SPDX template (markup honoured)
// or a plain text (every word literal).
class LicenseTemplate {
 public:
  // InvalidInput naming `where` for malformed template markup (an unclosed
  // <<, an unbalanced <<endOptional>>, a var without match).
  static StatusOr<LicenseTemplate> Compile(std::string_view text, bool spdx_template, const std::string& where);

  // True when `tokens` (LicenseTokens of a text) are the whole license.
  bool Matches(const std::vector<std::string>& tokens) const;
  // The reference's words for comparison: optional parts included, each
  // replaceable part as its original text.
  const std::vector<std::string>& reference_tokens() const { return reference_; }

  struct Element;  // literal word, replaceable part or optional part

 private:
  std::shared_ptr<const std::vector<Element>> elements_;
  std::vector<std::string> reference_;
};

// How a text compares with a reference it does not match whole.
struct TextComparison {
  double coverage = 0;   // share of the reference's words found in order in the text (0..1)
  size_t common = 0;     // words in common, in order
  size_t added = 0;      // words of the text not in the reference
  size_t removed = 0;    // words of the reference not in the text
  bool exact = false;    // coverage and counts come from a full word diff (else an estimate)
  std::vector<std::string> differences;  // up to 6 runs: adds “…” / omits “…”
};

// A quick estimate (shared 5-word sequences) of the share of `reference`
// found in `text`; 0..1. For choosing which references to diff.
double ContainmentEstimate(const std::vector<std::string>& text, const std::vector<std::string>& reference);

// A word diff of `text` against `reference` (Myers), when they differ in at
// most `max_edits` words; beyond that, `exact` is false and coverage is the
// estimate.
TextComparison CompareTokens(const std::vector<std::string>& text, const std::vector<std::string>& reference,
                             size_t max_edits = 1200);

}  // namespace dg

#endif  // DISTILLGATE_LICENSE_TEXT_MATCH_H_
