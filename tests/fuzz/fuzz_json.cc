// libFuzzer harness: the strict JSON parser and the RFC 8785 canonicaliser,
// differentially. Invariants (a violation aborts):
//   * parsing never crashes, whatever the bytes (depth, NUL, numbers);
//   * what Canonicalize() writes passes IsCanonicalJson() and parses back
//     equal to the value it came from;
//   * a text IsCanonicalJson() accepts is its own canonical form.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/canonical_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto doc = dg::ParseJsonStrict(text, "fuzz");
  const bool canonical_text = dg::IsCanonicalJson(text);
  if (!doc.ok()) {
    if (canonical_text) std::abort();  // the checker accepted what the parser refuses
    return 0;
  }
  auto canon = dg::Canonicalize(*doc);
  if (canonical_text && (!canon.ok() || *canon != text)) std::abort();
  if (!canon.ok()) return 0;
  std::string why;
  if (!dg::IsCanonicalJson(*canon, &why)) std::abort();
  auto back = dg::ParseJsonStrict(*canon, "fuzz canonical");
  if (!back.ok() || *back != *doc) std::abort();
  return 0;
}
