// The JSON forms of ledger proofs that leave the ledger (`ledger prove`,
// `ledger consistency`) and their offline verification. Schemas:
// schemas/inclusion-proof.schema.json, schemas/consistency-proof.schema.json.
//
// Make* read the ledger (its errors pass through; InvalidInput for an index
// or size it does not hold); the rest are pure and safe on any thread.
#ifndef DISTILLGATE_LEDGER_PROOF_BUNDLE_H_
#define DISTILLGATE_LEDGER_PROOF_BUNDLE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/hash.h"
#include "core/status.h"
#include "ledger/checkpoint.h"
#include "ledger/ledger.h"
#include "ledger/note.h"

namespace dg {

struct InclusionBundle {
  uint64_t leaf_index = 0;
  uint64_t tree_size = 0;
  Hash leaf_hash{};
  std::vector<Hash> proof;
  std::string checkpoint;               // signed note for tree_size
  std::optional<nlohmann::json> entry;  // the entry itself, when disclosed
};

struct ConsistencyBundle {
  uint64_t old_size = 0;
  uint64_t new_size = 0;
  std::vector<Hash> proof;
};

// Builds the inclusion bundle for entry `index` against the checkpoint kept
// at `tree_size` (the head when nullopt), including the entry itself.
StatusOr<InclusionBundle> MakeInclusionBundle(Ledger& ledger, uint64_t index, std::optional<uint64_t> tree_size);
StatusOr<ConsistencyBundle> MakeConsistencyBundle(Ledger& ledger, uint64_t old_size, std::optional<uint64_t> new_size);

nlohmann::json ToJson(const InclusionBundle& b);
nlohmann::json ToJson(const ConsistencyBundle& b);
// Strict readers: every problem names the JSON pointer and what was expected.
StatusOr<InclusionBundle> InclusionBundleFromJson(const nlohmann::json& j, const std::string& where);
StatusOr<ConsistencyBundle> ConsistencyBundleFromJson(const nlohmann::json& j, const std::string& where);

// Offline check: the checkpoint is signed by `verifier` for `tree_size`, the
// proof leads from leaf_hash to its root, and a disclosed entry hashes to
// leaf_hash. Returns the verified checkpoint.
StatusOr<Checkpoint> VerifyInclusionBundle(const InclusionBundle& b, const NoteVerifier& verifier);

}  // namespace dg

#endif  // DISTILLGATE_LEDGER_PROOF_BUNDLE_H_
