// A model's identity as the ecosystem writes it (docs/model-identity.md):
// a single file, or a Hugging Face-style directory (config.json, sharded
// *.safetensors with model.safetensors.index.json, tokenizer files, a
// README.md card). Every file is hashed with SHA-256 (files in parallel,
// each read once); every *.safetensors header is parsed and validated while
// it is read; each shard index is checked against the shards present; the
// card's YAML metadata and config.json are read.
//
// The manifest lists the files as OpenSSF model_signing's "files"
// serialization does (paths relative to the model, POSIX, sorted component by
// component; the git files and the given ignore paths left out) and its root
// is model_signing's root digest: SHA-256 over the raw file digests in that
// order. A single file is the resource "." as model_signing names it.
//
// Errors: InvalidInput naming the file and what is wrong (a malformed
// safetensors header or index, a symlink, a special file, a name that is not
// UTF-8); IoError when a file cannot be read. Reads only; safe on any thread.
#ifndef DISTILLGATE_MODEL_MODEL_DIR_H_
#define DISTILLGATE_MODEL_MODEL_DIR_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/hash.h"
#include "core/status.h"
#include "model/safetensors.h"

namespace dg {

// What model_signing leaves out of a directory unless told otherwise.
extern const std::vector<std::string> kModelSigningGitPaths;  // .git .gitattributes .github .gitignore

struct ModelHashOptions {
  // Worker threads; 0 = one per core (at most one per file).
  int threads = 0;
  // Relative POSIX paths left out (a directory leaves out all below it), in
  // addition to the git paths when ignore_git_paths.
  std::vector<std::string> ignore_paths;
  bool ignore_git_paths = true;
  // Leave out a top-level "model.sig", model_signing's default signature
  // name, so a signature kept inside the model does not change its root.
  bool ignore_signature_file = true;
  // Follow symlinks to files that stay inside the model (model_signing's
  // allow_symlinks). A symlink that leaves the model is refused either way.
  bool allow_symlinks = false;
  // Parse and check safetensors headers, shard indexes, README.md and
  // config.json. Off: bytes only, as model_signing hashes (a signature check
  // must report a changed file as changed, not as malformed).
  bool inspect = true;
  // Not 0: also the SHA-256 of each piece [k·shard_size, min((k+1)·shard_size,
  // size)) of every file (model_signing's "shards" serialization), taken in
  // the same read as the file's digest.
  uint64_t shard_size = 0;
};

struct ModelFile {
  std::string path;  // relative POSIX path; "." for a single-file model
  Hash sha256{};
  uint64_t bytes = 0;
  std::optional<SafetensorsHeader> safetensors;
  std::vector<Hash> shards;  // with ModelHashOptions::shard_size: each piece's SHA-256, in order
};

struct ModelManifest {
  std::string name;        // the last component of the model path
  bool directory = false;  // false: a single file
  std::vector<ModelFile> files;         // model_signing resource order
  std::vector<std::string> ignore_paths;  // as applied (relative POSIX), git paths included
  bool allow_symlinks = false;
  Hash root{};                  // model_signing root digest
  nlohmann::json card;          // README.md YAML metadata; null when none
  nlohmann::json config;        // config.json's model_type and architectures; null when none
  std::vector<std::string> indexes;  // shard indexes checked

  uint64_t total_bytes() const;
  // The identity a ledger entry carries (schemas/model-identity.schema.json).
  nlohmann::json ToJson() const;
  // The file at relative path `p`, or nullptr.
  const ModelFile* Find(const std::string& p) const;
};

// Orders relative POSIX paths as model_signing does (component by component).
bool ModelPathLess(const std::string& a, const std::string& b);

// model_signing's root: SHA-256 over the digests, in order.
Hash ModelSigningRoot(const std::vector<Hash>& digests_in_order);

// Hashes the model at `path` (a file or a directory).
StatusOr<ModelManifest> HashModel(const std::string& path, const ModelHashOptions& options = {});

// A model named as something to run (a job's teacher or fine-tuning start,
// a model to serve): its identity (HashModel with the default options) and
// the one file of it the trainer executes — the file itself, or the only
// file of a directory whose name ends in .pt, .pth or .torchscript (a
// distillgate checkpoint X.pt beside X.pt.json, a byte-LM file, a TorchScript
// module). Errors: InvalidInput, prefixed with `what` (the option or JSON
// pointer that named it), when a directory holds no such file or several;
// otherwise HashModel's. Whether the file really runs is the trainer's to
// check.
struct RunnableModel {
  ModelManifest identity;
  std::string exec_path;    // `path` itself, or `path`/the file in it
  std::string exec_sha256;  // hex SHA-256 of exec_path
};
StatusOr<RunnableModel> ReadRunnableModel(const std::string& path, const std::string& what);

// SHA-256 of bytes [start, end) of a file (model_signing's "shards").
StatusOr<Hash> Sha256FileRange(const std::string& path, uint64_t start, uint64_t end);

}  // namespace dg

#endif  // DISTILLGATE_MODEL_MODEL_DIR_H_
