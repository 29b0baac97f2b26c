#include "record/manifest.h"

#include <algorithm>

#include <sys/stat.h>

#include <filesystem>

#include "core/canonical_json.h"
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

namespace {

Status AddFile(const std::string& path, DatasetManifest* m) {
  DG_ASSIGN_OR_RETURN(Hash h, Sha256File(path));
  DG_ASSIGN_OR_RETURN(uint64_t bytes, FileSize(path));
  m->files.push_back({path, h, bytes});
  return Status::Ok();
}

void Seal(DatasetManifest* m) {
  CompactRange range;
  for (const Hash& h : m->record_leaves) range.Append(h, nullptr);
  m->root = range.Root();
}

}  // namespace

StatusOr<DatasetManifest> ManifestDirectory(const std::string& dataset_id, const std::string& license,
                                            const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::InvalidInput(dir + ": not a directory");
  std::vector<std::string> rel;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file()) rel.push_back(fs::relative(it->path(), dir).generic_string());
  }
  if (ec) return Status::IoError(dir + ": " + ec.message());
  std::sort(rel.begin(), rel.end());
  DatasetManifest m;
  m.dataset_id = dataset_id;
  m.license = license;
  m.record_format = "file: relative POSIX path || 0x00 || content, sorted by path";
  for (const auto& r : rel) {
    DG_ASSIGN_OR_RETURN(std::string content, ReadFile(dir + "/" + r));
    m.record_leaves.push_back(LeafHash(r + std::string(1, '\0') + content));
  }
  Seal(&m);
  return m;
}

StatusOr<DatasetManifest> ManifestJsonLines(const std::string& dataset_id, const std::string& license,
                                            const std::string& path) {
  DG_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  DatasetManifest m;
  m.dataset_id = dataset_id;
  m.license = license;
  m.record_format = "jsonl: RFC 8785 canonical JSON of each non-empty line";
  size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line(text.data() + pos, (nl == std::string::npos ? text.size() : nl) - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    DG_ASSIGN_OR_RETURN(nlohmann::json j, ParseJsonStrict(line, path + ":" + std::to_string(line_no)));
    auto canon = Canonicalize(j);
    if (!canon.ok()) return canon.status().WithContext(path + ":" + std::to_string(line_no));
    m.record_leaves.push_back(LeafHash(*canon));
  }
  DG_RETURN_IF_ERROR(AddFile(path, &m));
  Seal(&m);
  return m;
}

StatusOr<DatasetManifest> ManifestPath(const std::string& dataset_id, const std::string& license,
                                       const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status::InvalidInput(path + ": no such file or directory");
  if (S_ISDIR(st.st_mode)) return ManifestDirectory(dataset_id, license, path);
  if (path.size() > 6 && path.substr(path.size() - 6) == ".jsonl") return ManifestJsonLines(dataset_id, license, path);
  DatasetManifest m;
  m.dataset_id = dataset_id;
  m.license = license;
  m.record_format = "file: the whole content as one record";
  DG_ASSIGN_OR_RETURN(std::string content, ReadFile(path));
  m.record_leaves.push_back(LeafHash(content));
  DG_RETURN_IF_ERROR(AddFile(path, &m));
  Seal(&m);
  return m;
}

}  // namespace dg
