#include "model/model_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <yaml-cpp/yaml.h>

#include "core/canonical_json.h"
#include "core/encoding.h"
#include "core/file_util.h"

namespace dg {
namespace fs = std::filesystem;
using nlohmann::json;

const std::vector<std::string> kModelSigningGitPaths = {".git", ".gitattributes", ".github", ".gitignore"};

namespace {

constexpr size_t kChunk = 4 << 20;

std::vector<std::string_view> Components(std::string_view p) {
  std::vector<std::string_view> out;
  size_t at = 0;
  while (at <= p.size()) {
    size_t slash = p.find('/', at);
    if (slash == std::string_view::npos) slash = p.size();
    out.push_back(p.substr(at, slash - at));
    at = slash + 1;
  }
  return out;
}

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
// U+10FFFF — what a JSON manifest can carry.
bool ValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int more;
    uint32_t cp, min;
    if ((c >> 5) == 0x6) more = 1, cp = c & 0x1F, min = 0x80;
    else if ((c >> 4) == 0xE) more = 2, cp = c & 0x0F, min = 0x800;
    else if ((c >> 3) == 0x1E) more = 3, cp = c & 0x07, min = 0x10000;
    else return false;
    if (i + more >= s.size()) return false;  // cut short
    for (int k = 1; k <= more; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d >> 6) != 0x2) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += more + 1;
  }
  return true;
}

// "a/b/" → "a/b"; "./a" → "a"; "" when it names the root.
std::string NormalizeRelative(std::string p) {
  while (p.size() >= 2 && p.compare(0, 2, "./") == 0) p.erase(0, 2);
  while (!p.empty() && p.back() == '/') p.pop_back();
  if (p == ".") p.clear();
  return p;
}

bool Ignored(const std::string& rel, const std::vector<std::string>& ignores) {
  for (const std::string& ig : ignores) {
    if (ig.empty()) continue;
    if (rel == ig || (rel.size() > ig.size() && rel.compare(0, ig.size(), ig) == 0 && rel[ig.size()] == '/')) return true;
  }
  return false;
}

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct Job {
  std::string disk_path;  // what to open
  size_t index = 0;       // into manifest files
  bool want_header = false;
  bool follow = true;  // false: a listed regular file, opened with O_NOFOLLOW (a swap for a symlink fails)
  uint64_t shard_size = 0;  // not 0: each piece's digest too
};

struct Result {
  Status status = Status::Ok();
  Hash digest{};
  std::string header;  // the first 8 + N bytes of a safetensors file (as far as the file had them)
  uint64_t size = 0;
  std::vector<Hash> shards;
};

// Reads a file once: its SHA-256 and, when asked, its safetensors header bytes.
Result HashOne(const Job& job, const std::string& display, std::vector<char>& buf) {
  Result r;
  // O_NONBLOCK: a file swapped for a FIFO since the listing fails the
  // regular-file check below instead of blocking the open.
  int fd = ::open(job.disk_path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | (job.follow ? 0 : O_NOFOLLOW));
  if (fd < 0) {
    r.status = Status::IoError(display + ": cannot open: " + std::strerror(errno));
    return r;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    r.status = Status::InvalidInput(display + ": not a regular file");
    return r;
  }
  (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);  // a hint; failure changes nothing
  Sha256Hasher h, piece;
  uint64_t want = job.want_header ? 8 : 0;  // header bytes still to keep
  bool know_n = false;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      r.status = Status::IoError(display + ": read failed: " + std::strerror(errno));
      ::close(fd);
      return r;
    }
    if (n == 0) break;
    h.Update(buf.data(), static_cast<size_t>(n));
    for (size_t at = 0; job.shard_size > 0 && at < static_cast<size_t>(n);) {  // the pieces, split where they end
      const uint64_t in_piece = (r.size + at) % job.shard_size;
      const size_t take = static_cast<size_t>(std::min<uint64_t>(job.shard_size - in_piece, static_cast<uint64_t>(n) - at));
      piece.Update(buf.data() + at, take);
      at += take;
      if (in_piece + take == job.shard_size) {
        r.shards.push_back(piece.Finish());  // Finish leaves it ready for the next piece
      }
    }
    size_t used = 0;
    while (want > 0 && used < static_cast<size_t>(n)) {
      const size_t take = std::min<uint64_t>(want, static_cast<uint64_t>(n) - used);
      r.header.append(buf.data() + used, take);
      used += take;
      want -= take;
      if (want == 0 && !know_n && r.header.size() == 8) {
        know_n = true;
        uint64_t len = 0;
        for (int i = 7; i >= 0; --i) len = (len << 8) | static_cast<uint8_t>(r.header[i]);
        want = std::min<uint64_t>(len, kSafetensorsMaxHeaderBytes + 1);
      }
    }
    r.size += static_cast<uint64_t>(n);
  }
  ::close(fd);
  r.digest = h.Finish();
  if (job.shard_size > 0 && r.size % job.shard_size != 0) r.shards.push_back(piece.Finish());  // the last, shorter piece
  return r;
}

// Card metadata as JSON. Aliases are expanded, so a few hundred bytes can
// name billions of nodes ("billion laughs"): the expansion stops at
// `*budget` nodes (false).
bool YamlToJson(const YAML::Node& n, json* out, size_t* budget) {
  if (*budget == 0) return false;
  --*budget;
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      *out = json::object();
      for (auto it = n.begin(); it != n.end(); ++it) {
        if (!YamlToJson(it->second, &(*out)[it->first.as<std::string>()], budget)) return false;
      }
      return true;
    }
    case YAML::NodeType::Sequence: {
      *out = json::array();
      for (const YAML::Node& e : n) {
        out->push_back(nullptr);
        if (!YamlToJson(e, &out->back(), budget)) return false;
      }
      return true;
    }
    case YAML::NodeType::Scalar: *out = n.as<std::string>(); return true;
    default: *out = nullptr; return true;
  }
}

// The YAML metadata of a model card (the block between the first two "---"
// lines); null when the card has none.
StatusOr<json> ReadCardMetadata(const std::string& text, const std::string& where) {
  std::string_view card = text;
  if (card.substr(0, 3) == "\xEF\xBB\xBF") card.remove_prefix(3);
  // As huggingface_hub reads a card: metadata only when the first line is
  // "---" and a later line closes the block; otherwise the card has none.
  const size_t start = card.find('\n');
  if (start == std::string_view::npos) return json(nullptr);
  std::string_view first = card.substr(0, start);
  while (!first.empty() && (first.back() == '\r' || first.back() == ' ')) first.remove_suffix(1);
  if (first != "---") return json(nullptr);
  const size_t end = card.find("\n---", start);
  if (end == std::string_view::npos) return json(nullptr);
  try {
    YAML::Node meta = YAML::Load(std::string(card.substr(start + 1, end - start)));
    if (meta.IsNull()) return json::object();
    if (!meta.IsMap()) return Status::InvalidInput(where + ": the card's metadata is not a YAML mapping");
    std::set<std::string> seen;
    for (auto it = meta.begin(); it != meta.end(); ++it) {
      const std::string k = it->first.as<std::string>();
      if (!seen.insert(k).second) return Status::InvalidInput(where + ": the card's metadata gives `" + k + "` twice");
    }
    json out;
    size_t budget = 100000;
    if (!YamlToJson(meta, &out, &budget)) {
      return Status::InvalidInput(where + ": the card's metadata expands to more than 100,000 nodes (YAML aliases?)");
    }
    return out;
  } catch (const YAML::Exception& e) {
    return Status::InvalidInput(where + ": line " + std::to_string(e.mark.line + 2) + ": malformed YAML metadata: " + e.msg);
  }
}

}  // namespace

bool ModelPathLess(const std::string& a, const std::string& b) {
  const auto ca = Components(a), cb = Components(b);
  return std::lexicographical_compare(ca.begin(), ca.end(), cb.begin(), cb.end());
}

Hash ModelSigningRoot(const std::vector<Hash>& digests) {
  Sha256Hasher h;
  for (const Hash& d : digests) h.Update(d.data(), d.size());
  return h.Finish();
}

uint64_t ModelManifest::total_bytes() const {
  uint64_t t = 0;
  for (const ModelFile& f : files) t += f.bytes;
  return t;
}

const ModelFile* ModelManifest::Find(const std::string& p) const {
  for (const ModelFile& f : files) {
    if (f.path == p) return &f;
  }
  return nullptr;
}

json ModelManifest::ToJson() const {
  json files_j = json::array();
  for (const ModelFile& f : files) {
    json e = {{"path", f.path}, {"sha256", HexEncode(f.sha256)}, {"bytes", f.bytes}};
    if (f.safetensors) e["safetensors"] = f.safetensors->ToJson();
    files_j.push_back(std::move(e));
  }
  json j = {{"name", name},
            {"kind", directory ? "directory" : "file"},
            {"model_signing", {{"root_sha256", HexEncode(root)},
                               {"serialization", {{"method", "files"}, {"hash_type", "sha256"}, {"allow_symlinks", allow_symlinks},
                                                  {"ignore_paths", ignore_paths}}}}},
            {"bytes", total_bytes()},
            {"files", files_j}};
  if (!card.is_null()) j["card"] = card;
  if (!config.is_null()) j["config"] = config;
  if (!indexes.empty()) j["indexes"] = indexes;
  return j;
}

StatusOr<Hash> Sha256FileRange(const std::string& path, uint64_t start, uint64_t end) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IoError(path + ": cannot open: " + std::strerror(errno));
  std::vector<char> buf(kChunk);
  Sha256Hasher h;
  uint64_t at = start;
  while (at < end) {
    ssize_t n = ::pread(fd, buf.data(), std::min<uint64_t>(buf.size(), end - at), static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return Status::IoError(path + ": cannot read bytes " + std::to_string(at) + ".." + std::to_string(end));
    }
    h.Update(buf.data(), static_cast<size_t>(n));
    at += static_cast<uint64_t>(n);
  }
  ::close(fd);
  return h.Finish();
}

StatusOr<ModelManifest> HashModel(const std::string& path, const ModelHashOptions& options) {
  ModelManifest m;
  std::error_code ec;
  const fs::path given(path);
  const fs::path root = fs::canonical(given, ec);
  if (ec) return Status::InvalidInput(path + ": no such model file or directory (" + ec.message() + ")");
  m.name = given.filename().string();
  if (m.name.empty() || m.name == "." || m.name == "..") m.name = root.filename().string();
  m.allow_symlinks = options.allow_symlinks;
  for (const std::string& p : options.ignore_paths) {
    std::string n = NormalizeRelative(p);
    if (!n.empty()) m.ignore_paths.push_back(n);
  }
  if (options.ignore_signature_file &&
      std::find(m.ignore_paths.begin(), m.ignore_paths.end(), "model.sig") == m.ignore_paths.end()) {
    m.ignore_paths.push_back("model.sig");
  }
  if (options.ignore_git_paths) {
    for (const std::string& g : kModelSigningGitPaths) {
      if (std::find(m.ignore_paths.begin(), m.ignore_paths.end(), g) == m.ignore_paths.end()) m.ignore_paths.push_back(g);
    }
  }
  std::vector<Job> jobs;
  const fs::file_status rs = fs::status(root, ec);
  if (ec) return Status::IoError(path + ": " + ec.message());
  if (fs::is_regular_file(rs)) {
    m.directory = false;
    m.files.push_back({".", {}, 0, std::nullopt});
    jobs.push_back({root.string(), 0, options.inspect && EndsWith(m.name, ".safetensors"), true, options.shard_size});
  } else if (fs::is_directory(rs)) {
    m.directory = true;
    const std::string root_s = root.string() + "/";
    struct Found {
      std::string rel, disk;
      bool symlink;
    };
    std::vector<Found> found;
    fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
    if (ec) return Status::IoError(path + ": cannot list: " + ec.message());
    for (; it != end; it.increment(ec)) {
      if (ec) return Status::IoError(path + ": cannot list: " + ec.message());
      const fs::directory_entry& e = *it;
      std::string rel = e.path().lexically_relative(root).generic_string();
      const std::string shown = path + "/" + rel;
      if (!ValidUtf8(rel)) return Status::InvalidInput(shown + ": a file name that is not UTF-8 cannot be named in a manifest");
      if (Ignored(rel, m.ignore_paths)) {
        if (e.is_directory(ec) && !e.is_symlink(ec)) it.disable_recursion_pending();
        continue;
      }
      const fs::file_status ls = e.symlink_status(ec);
      if (ec) return Status::IoError(shown + ": " + ec.message());
      if (fs::is_symlink(ls)) {
        const fs::path target = fs::canonical(e.path(), ec);
        if (ec) return Status::InvalidInput(shown + ": a symlink whose target does not exist");
        const std::string ts = target.string();
        if (ts.compare(0, root_s.size(), root_s) != 0) {
          return Status::InvalidInput(shown + ": a symlink that points outside the model directory (to " + ts + "); refused");
        }
        if (!options.allow_symlinks) {
          return Status::InvalidInput(shown + ": a symlink (to " + ts.substr(root_s.size()) +
                                      "); give --allow-symlinks to follow symlinks that stay inside the model");
        }
        if (!fs::is_regular_file(target, ec)) return Status::InvalidInput(shown + ": a symlink to something other than a file");
        found.push_back({rel, e.path().string(), true});
        continue;
      }
      if (fs::is_directory(ls)) continue;
      if (!fs::is_regular_file(ls)) return Status::InvalidInput(shown + ": not a regular file or directory (a device, pipe or socket)");
      found.push_back({rel, e.path().string(), false});
    }
    std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) { return ModelPathLess(a.rel, b.rel); });
    for (size_t i = 0; i < found.size(); ++i) {
      m.files.push_back({found[i].rel, {}, 0, std::nullopt});
      jobs.push_back({found[i].disk, i, options.inspect && EndsWith(found[i].rel, ".safetensors"), found[i].symlink, options.shard_size});
    }
  } else {
    return Status::InvalidInput(path + ": not a regular file or directory");
  }

  // Hash: biggest files first, spread over the workers.
  std::vector<size_t> order(jobs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::vector<uint64_t> sizes(jobs.size(), 0);
  for (size_t i = 0; i < jobs.size(); ++i) {
    struct stat st {};
    if (::stat(jobs[i].disk_path.c_str(), &st) == 0) sizes[i] = static_cast<uint64_t>(st.st_size);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return sizes[a] > sizes[b]; });
  int threads = options.threads > 0 ? options.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = std::max(1, std::min<int>({threads, static_cast<int>(jobs.size()), 64}));
  std::vector<Result> results(jobs.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    std::vector<char> buf(kChunk);
    for (size_t k; (k = next.fetch_add(1)) < order.size();) {
      const size_t i = order[k];
      results[i] = HashOne(jobs[i], m.directory ? path + "/" + m.files[i].path : path, buf);
    }
  };
  if (threads == 1) {
    work();
  } else {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(work);
    for (std::thread& t : pool) t.join();
  }
  std::map<std::string, const SafetensorsHeader*> shards;
  for (size_t i = 0; i < jobs.size(); ++i) {
    Result& r = results[i];
    if (!r.status.ok()) return r.status;
    ModelFile& f = m.files[i];
    const std::string shown = m.directory ? path + "/" + f.path : path;
    f.sha256 = r.digest;
    const std::string& header = r.header;
    f.bytes = r.size;
    f.shards = std::move(r.shards);
    if (jobs[i].want_header) {
      DG_ASSIGN_OR_RETURN(uint64_t n, SafetensorsHeaderLength(header, f.bytes, shown));
      DG_ASSIGN_OR_RETURN(SafetensorsHeader h, ParseSafetensorsHeader(std::string_view(header).substr(8, n), f.bytes, shown));
      f.safetensors = std::move(h);
    }
  }
  for (const ModelFile& f : m.files) {
    if (f.safetensors) shards[f.path] = &*f.safetensors;
  }
  // Shard indexes, the card and config.json.
  for (size_t i = 0; options.inspect && m.directory && i < m.files.size(); ++i) {
    const ModelFile& f = m.files[i];
    const std::string shown = path + "/" + f.path;
    if (EndsWith(f.path, ".safetensors.index.json")) {
      DG_ASSIGN_OR_RETURN(std::string text, ReadFile(jobs[i].disk_path));
      DG_ASSIGN_OR_RETURN(SafetensorsIndex idx, ParseSafetensorsIndex(text, shown));
      const size_t slash = f.path.rfind('/');
      DG_RETURN_IF_ERROR(CheckSafetensorsIndex(idx, shown, slash == std::string::npos ? "" : f.path.substr(0, slash), shards));
      m.indexes.push_back(f.path);
    } else if (f.path == "README.md") {
      DG_ASSIGN_OR_RETURN(std::string text, ReadFile(jobs[i].disk_path));
      DG_ASSIGN_OR_RETURN(m.card, ReadCardMetadata(text, shown));
    } else if (f.path == "config.json") {
      DG_ASSIGN_OR_RETURN(std::string text, ReadFile(jobs[i].disk_path));
      DG_ASSIGN_OR_RETURN(json c, ParseJsonStrict(text, shown));
      if (!c.is_object()) return Status::InvalidInput(shown + ": expected a JSON object");
      m.config = json::object();
      for (const char* k : {"model_type", "architectures", "torch_dtype"}) {
        if (c.contains(k)) m.config[k] = c[k];
      }
    }
  }
  std::vector<Hash> digests;
  for (const ModelFile& f : m.files) digests.push_back(f.sha256);
  m.root = ModelSigningRoot(digests);
  return m;
}

StatusOr<RunnableModel> ReadRunnableModel(const std::string& path, const std::string& what) {
  RunnableModel n;
  auto identity = HashModel(path);
  if (!identity.ok()) return identity.status().WithContext(what);
  n.identity = std::move(identity).value();
  const ModelFile* exec = &n.identity.files[0];
  n.exec_path = path;
  if (n.identity.directory) {
    std::vector<const ModelFile*> runnable;
    for (const ModelFile& f : n.identity.files) {
      for (std::string_view ext : {".pt", ".pth", ".torchscript"}) {
        if (f.path.size() > ext.size() && f.path.compare(f.path.size() - ext.size(), ext.size(), ext) == 0) runnable.push_back(&f);
      }
    }
    if (runnable.size() != 1) {
      return Status::InvalidInput(what + ": " + path + " is a model directory with " +
                                  (runnable.empty() ? std::string("no file the trainer can execute (a distillgate checkpoint or "
                                                                  "byte-LM file X.pt with X.pt.json, or a TorchScript module); "
                                                                  "safetensors weights alone have no runnable architecture")
                                                    : std::to_string(runnable.size()) + " executable files (" + runnable[0]->path +
                                                          ", " + runnable[1]->path + "…); name the one to run"));
    }
    exec = runnable[0];
    n.exec_path = path + "/" + exec->path;
  }
  n.exec_sha256 = HexEncode(exec->sha256);
  return n;
}

}  // namespace dg
