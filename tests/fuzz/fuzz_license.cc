// libFuzzer harness: license text matching (license detect, the evidence of
// check): arbitrary texts against every reference of the built-in knowledge
// base, and the word diff. Never a crash, bounded time; a text identified
// must match its reference whole, and a reference itself is identified.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "license/detect.h"
#include "license/knowledge_base.h"
#include "license/text_match.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto kb = *dg::KnowledgeBase::Builtin();
  const std::string text(reinterpret_cast<const char*>(data), size);
  const dg::Detection d = dg::DetectFromText(text, "fuzz", *kb);
  if (d.status == dg::DetectionStatus::kIdentified) {
    const auto* p = kb->Find(d.license);
    if (p == nullptr) std::abort();
    bool whole = false;
    const auto tokens = dg::LicenseTokens(text);
    for (const auto& r : p->texts) whole |= (*r.Compiled())->Matches(tokens);
    if (!whole) std::abort();
  }
  // The text as a plain reference: it must match itself.
  auto t = dg::LicenseTemplate::Compile(text, false, "fuzz");
  if (t.ok() && !t->Matches(dg::LicenseTokens(text))) std::abort();
  // And as an SPDX template: markup errors are refused, never a crash.
  (void)dg::LicenseTemplate::Compile(text, true, "fuzz");
  (void)dg::CompareTokens(dg::LicenseTokens(text), dg::LicenseTokens("the quick brown fox jumps over the lazy dog " + text.substr(0, 64)));
  return 0;
}
