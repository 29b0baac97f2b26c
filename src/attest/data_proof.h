// Proofs that one record was in a run's training data (schemas/data-proof.schema.json):
// an RFC 6962 inclusion proof of the record's leaf hash in the records_root of
// a dataset_manifest entry, which an attestation bundle proves is in the
// signed ledger. The dataset itself is never disclosed; a record that was not
// in the data has no proof.
//
// ProveRecord reads the ledger and the data; VerifyRecordProof is a pure
// function of its inputs. Neither writes anything.
#ifndef DISTILLGATE_ATTEST_DATA_PROOF_H_
#define DISTILLGATE_ATTEST_DATA_PROOF_H_

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "ledger/ledger.h"
#include "ledger/note.h"

namespace dg {

struct DataProveOptions {
  std::string run_id;
  std::string dataset;                  // manifest's dataset id; "" = the training split
  std::string data_path;                // where the data is now; "" = where the run recorded it
  std::optional<uint64_t> index;        // prove record N ...
  std::optional<std::string> record;    // ... or the record with these bytes
  bool disclose = false;                // include the record's bytes in the proof
};

// Re-derives the manifest from the data (its root must equal the recorded
// one) and proves the record. A record not in the data is VerifyFailed.
StatusOr<nlohmann::json> ProveRecord(Ledger& ledger, const DataProveOptions& options);

struct DataVerifyResult {
  std::string dataset, license, record_format, run;  // license and format as the signed manifest records them
  uint64_t record_index = 0, records = 0;
};

// Checks the proof against a bundle from `distillgate attest` (signature,
// checkpoint and the manifest entry's inclusion) and, when `record` is given,
// that those bytes are the proven record.
StatusOr<DataVerifyResult> VerifyRecordProof(const nlohmann::json& proof, const nlohmann::json& envelope,
                                             const NoteVerifier& key, const std::optional<std::string>& record,
                                             const std::string& where);

}  // namespace dg

#endif  // DISTILLGATE_ATTEST_DATA_PROOF_H_
