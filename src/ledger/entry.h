// Ledger entries: the bytes of one leaf of the log (docs/ledger-format.md §3).
//
// A LedgerEntry is an immutable value: its leaf bytes are the RFC 8785
// canonical JSON of {"body": <body object>, "kind": <kind>} (so the kind is
// hashed too), and its RFC 6962 leaf hash is computed once, when it is made.
// Values may be copied and shared between threads freely.
#ifndef DISTILLGATE_LEDGER_ENTRY_H_
#define DISTILLGATE_LEDGER_ENTRY_H_

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "core/canonical_json.h"
#include "core/hash.h"
#include "core/status.h"

namespace dg {

// One entry ready to append. The factories fail with InvalidInput (an
// invalid kind, a body that is not an object or not canonical JSON).
class LedgerEntry {
 public:
  // kind: 1-64 characters of [a-z0-9_.-], starting with a letter.
  static StatusOr<LedgerEntry> Make(const std::string& kind, const nlohmann::json& body);
  // The same from a body already in RFC 8785 form (checked, not trusted).
  static StatusOr<LedgerEntry> FromCanonicalBody(const std::string& kind, std::string_view canonical_body);
  // The same from a body made by CanonicalObjectBuilder, `value` in its hole
  // (canonical by construction: not parsed again).
  static StatusOr<LedgerEntry> FromCanonicalObject(const std::string& kind, const CanonicalObjectWithHole& body, uint64_t value);
  const std::string& kind() const { return kind_; }
  const std::string& data() const { return data_; }
  // RFC 6962 leaf hash of data(), computed once when the entry is made.
  const Hash& leaf_hash() const { return leaf_hash_; }

 private:
  // {"body":<canon>,"kind":"<kind>"}: "body" sorts before "kind".
  static LedgerEntry Assemble(const std::string& kind, std::string_view canonical_body);
  void Seal();  // appends ,"kind":"<kind>"} and hashes
  std::string kind_, data_;
  Hash leaf_hash_{};
};

bool IsValidEntryKind(const std::string& kind);
// The kind recorded in canonical entry bytes; "" when they are not canonical.
std::string EntryKindOf(std::string_view data);

}  // namespace dg

#endif  // DISTILLGATE_LEDGER_ENTRY_H_
