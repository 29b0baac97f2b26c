#include "lineage/manifest.h"

#include <algorithm>

#include "core/encoding.h"
#include "core/file_util.h"
#include "ledger/merkle.h"

namespace dg {

std::string ImageRecordBytes(const ImageSet& set, size_t i) {
  const size_t n = set.images.ItemSize();
  std::string out;
  out.reserve(n + 1);
  out.push_back(static_cast<char>(set.labels.data[i]));
  out.append(reinterpret_cast<const char*>(set.images.data.data() + i * n), n);
  return out;
}

nlohmann::json DatasetManifest::ToEntryBody() const {
  nlohmann::json files_json = nlohmann::json::array();
  for (const auto& f : files) files_json.push_back({{"path", f.path}, {"sha256", HexEncode(f.sha256)}, {"bytes", f.bytes}});
  return {{"dataset", dataset_id},
          {"license", license},
          {"record_format", record_format},
          {"records", record_leaves.size()},
          {"records_root", Base64Encode(root)},
          {"files", files_json}};
}

StatusOr<std::vector<Hash>> DatasetManifest::ProveRecord(uint64_t index) const {
  const auto& leaves = record_leaves;
  // Subtree hashes from the in-memory leaves (a manifest is small enough).
  SubtreeReader read = [&leaves](int level, uint64_t idx) -> StatusOr<Hash> {
    const uint64_t w = uint64_t{1} << level, begin = idx * w;
    if (begin + w > leaves.size()) return Status::Internal("subtree beyond the manifest");
    CompactRange r;
    for (uint64_t i = begin; i < begin + w; ++i) r.Append(leaves[i], nullptr);
    return r.Root();
  };
  return InclusionProof(index, leaves.size(), read);
}

StatusOr<DatasetManifest> ManifestImageSet(const std::string& dataset_id, const std::string& license,
                                           const std::string& dir, const std::string& prefix, const ImageSet& set,
                                           size_t limit) {
  DatasetManifest m;
  m.dataset_id = dataset_id;
  m.license = license;
  m.record_format = "idx-image: label byte || rows*cols image bytes";
  for (const char* kind : {"-images-idx3-ubyte", "-labels-idx1-ubyte"}) {
    std::string path = dir + "/" + prefix + kind + ".gz";
    if (!FileExists(path)) path = dir + "/" + prefix + kind;
    DG_ASSIGN_OR_RETURN(Hash h, Sha256File(path));
    DG_ASSIGN_OR_RETURN(uint64_t bytes, FileSize(path));
    m.files.push_back({path, h, bytes});
  }
  CompactRange range;
  const size_t n = limit == 0 ? set.size() : std::min(limit, set.size());
  m.record_leaves.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    m.record_leaves.push_back(LeafHash(ImageRecordBytes(set, i)));
    range.Append(m.record_leaves.back(), nullptr);
  }
  m.root = range.Root();
  return m;
}

}  // namespace dg
