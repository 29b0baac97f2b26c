#include "ledger/entry.h"

#include <nlohmann/json.hpp>

#include "core/canonical_json.h"
#include "ledger/merkle.h"

namespace dg {

std::string EntryKindOf(std::string_view data) {
  // Canonical entries end with ,"kind":"<kind>"} and kinds need no escaping.
  static constexpr std::string_view kTag = "\"kind\":\"";
  if (data.size() < kTag.size() + 2 || data.substr(data.size() - 2) != "\"}") return std::string();
  size_t at = data.rfind(kTag);
  if (at == std::string_view::npos) return std::string();
  return std::string(data.substr(at + kTag.size(), data.size() - 2 - at - kTag.size()));
}

bool IsValidEntryKind(const std::string& kind) {
  if (kind.empty() || kind.size() > 64 || !(kind[0] >= 'a' && kind[0] <= 'z')) return false;
  for (char c : kind) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

StatusOr<LedgerEntry> LedgerEntry::FromCanonicalBody(const std::string& kind, std::string_view canon) {
  if (!IsValidEntryKind(kind)) return Status::InvalidInput("entry kind \"" + kind + "\" is not valid");
  std::string why;
  if (canon.empty() || canon.front() != '{' || !IsCanonicalJson(canon, &why)) {
    return Status::InvalidInput("entry body is not an RFC 8785 canonical JSON object" + (why.empty() ? "" : ": " + why));
  }
  return Assemble(kind, canon);
}

LedgerEntry LedgerEntry::Assemble(const std::string& kind, std::string_view canon) {
  LedgerEntry e;
  e.kind_ = kind;
  e.data_.reserve(canon.size() + kind.size() + 20);
  e.data_ += "{\"body\":";
  e.data_ += canon;
  e.Seal();
  return e;
}

void LedgerEntry::Seal() {
  data_ += ",\"kind\":\"";
  data_ += kind_;  // kind needs no escaping: [a-z0-9_.-] only
  data_ += "\"}";
  leaf_hash_ = LeafHash(data_);
}

StatusOr<LedgerEntry> LedgerEntry::FromCanonicalObject(const std::string& kind, const CanonicalObjectWithHole& body, uint64_t value) {
  if (!IsValidEntryKind(kind)) return Status::InvalidInput("entry kind \"" + kind + "\" is not valid");
  LedgerEntry e;
  e.kind_ = kind;
  e.data_.reserve(body.size() + kind.size() + 40);
  e.data_ += "{\"body\":";
  DG_RETURN_IF_ERROR(body.AppendFilled(value, &e.data_));
  e.Seal();
  return e;
}

StatusOr<LedgerEntry> LedgerEntry::Make(const std::string& kind, const nlohmann::json& body) {
  if (!IsValidEntryKind(kind)) {
    return Status::InvalidInput("entry kind \"" + kind +
                                "\" is not valid: expected 1-64 characters of a-z 0-9 _ . - starting with a letter");
  }
  if (!body.is_object()) {
    return Status::InvalidInput(std::string("entry body must be a JSON object, got ") + body.type_name());
  }
  DG_ASSIGN_OR_RETURN(std::string canon, Canonicalize(body));
  return Assemble(kind, canon);
}

}  // namespace dg
