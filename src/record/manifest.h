// Dataset manifests: what a run trained on, committed without disclosing it.
// Each record's bytes are hashed as an RFC 6962 leaf; the leaves form a
// Merkle tree whose root goes into the ledger with the dataset's license, so
// anyone holding a record can later prove it was (or was not) in the data.
//
// Errors: InvalidInput naming the file (and line) of bad input; IoError when
// a file cannot be read. Reads only; safe on any thread; a DatasetManifest
// is a plain value.
#ifndef DISTILLGATE_RECORD_MANIFEST_H_
#define DISTILLGATE_RECORD_MANIFEST_H_

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/hash.h"
#include "core/status.h"
#include "record/idx.h"

namespace dg {

struct ManifestFile {
  std::string path;
  Hash sha256{};
  uint64_t bytes = 0;
};

struct DatasetManifest {
  std::string dataset_id, license, record_format;
  std::vector<ManifestFile> files;
  std::vector<Hash> record_leaves;  // LeafHash(record bytes), in dataset order
  Hash root{};                      // RFC 6962 root of record_leaves

  // The ledger entry body (kind "dataset_manifest"); leaves are not included.
  nlohmann::json ToEntryBody() const;
  // RFC 6962 inclusion proof of record `index` against `root`.
  StatusOr<std::vector<Hash>> ProveRecord(uint64_t index) const;
};

// Record bytes of an image set: label byte || image bytes (docs/runner.md).
std::string ImageRecordBytes(const ImageSet& set, size_t i);

// Manifest of an IDX image set (train or t10k) in `dir`; `limit` > 0 covers
// only the first `limit` records (what a run actually used).
StatusOr<DatasetManifest> ManifestImageSet(const std::string& dataset_id, const std::string& license,
                                           const std::string& dir, const std::string& prefix, const ImageSet& set,
                                           size_t limit = 0);

// Generic datasets.
// A directory: every regular file below it, sorted by relative POSIX path;
// record = relative path || 0x00 || file content (names are committed too).
StatusOr<DatasetManifest> ManifestDirectory(const std::string& dataset_id, const std::string& license,
                                            const std::string& dir);
// A JSON Lines file: record = the RFC 8785 canonical JSON of each non-empty
// line; a malformed line is an error naming its number.
StatusOr<DatasetManifest> ManifestJsonLines(const std::string& dataset_id, const std::string& license,
                                            const std::string& path);
// Picks by what `path` is: an IDX directory is not handled here (see
// ManifestImageSet); a directory → ManifestDirectory; *.jsonl →
// ManifestJsonLines; any other file → one record, its content.
StatusOr<DatasetManifest> ManifestPath(const std::string& dataset_id, const std::string& license,
                                       const std::string& path);

}  // namespace dg

#endif  // DISTILLGATE_RECORD_MANIFEST_H_
