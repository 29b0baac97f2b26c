// distillgate model hash|sign|verify: model identity and OpenSSF
// model_signing signatures (docs/model-identity.md).
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include "cli/commands.h"
#include "core/ecdsa.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "model/model_dir.h"
#include "model/model_signing.h"

namespace dg::cli {
namespace {

namespace fs = std::filesystem;

struct ModelArgs {
  std::string model, key, out, sig, pubkey;
  std::vector<std::string> ignore, cert_chain;
  bool allow_symlinks = false, no_git = false, as_json = false;
  int threads = 0;
};

// As model_signing's CLI: ignore paths are relative to the working directory
// and count only where they fall inside the model; returned relative to it.
std::vector<std::string> RelativeIgnores(const std::string& model, const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  std::error_code ec;
  const fs::path root = fs::weakly_canonical(fs::path(model), ec);
  if (ec) return out;
  for (const std::string& p : paths) {
    const fs::path c = fs::weakly_canonical(fs::absolute(p, ec), ec);
    if (ec) continue;
    const fs::path rel = c.lexically_relative(root);
    const std::string r = rel.generic_string();
    if (r.empty() || r == "." || r == ".." || r.compare(0, 3, "../") == 0) continue;  // the model itself, or outside it
    out.push_back(r);
  }
  return out;
}

void AddHashOptions(CLI::App* c, ModelArgs* a) {
  c->add_option("--ignore-paths", a->ignore, "Paths (relative to the working directory) to leave out, as model_signing's --ignore-paths");
  c->add_flag("--allow-symlinks", a->allow_symlinks, "Follow symlinks to files inside the model (a symlink that leaves it is refused)");
  c->add_flag("--no-ignore-git-paths", a->no_git, "Hash .git, .gitattributes, .github and .gitignore too");
  c->add_option("--threads", a->threads, "Files hashed in parallel (default: one per core)");
}

ModelHashOptions HashOptionsOf(const ModelArgs& a, const std::vector<std::string>& more_ignores = {}) {
  ModelHashOptions o;
  o.threads = a.threads;
  o.allow_symlinks = a.allow_symlinks;
  o.ignore_git_paths = !a.no_git;
  o.ignore_paths = RelativeIgnores(a.model, a.ignore);
  for (const std::string& p : RelativeIgnores(a.model, more_ignores)) o.ignore_paths.push_back(p);
  return o;
}

void PrintSummary(const ModelManifest& m) {
  size_t tensors = 0, st_files = 0;
  for (const ModelFile& f : m.files) {
    if (f.safetensors) {
      ++st_files;
      tensors += f.safetensors->tensors.size();
    }
  }
  std::cout << "model:       " << m.name << (m.directory ? " (directory)" : " (file)") << "\n"
            << "files:       " << m.files.size() << ", " << m.total_bytes() << " bytes\n";
  if (st_files > 0) std::cout << "safetensors: " << st_files << " files, " << tensors << " tensors, headers valid\n";
  for (const std::string& i : m.indexes) std::cout << "index:       " << i << " matches its shards\n";
  if (!m.card.is_null()) {
    std::cout << "card:        README.md";
    for (const char* k : {"license", "base_model", "base_model_relation"}) {
      if (m.card.contains(k)) std::cout << " " << k << "=" << m.card[k].dump();
    }
    std::cout << "\n";
  }
  std::cout << "root:        sha256:" << HexEncode(m.root) << " (model_signing root digest)\n";
}

}  // namespace

void RegisterModel(CLI::App& app, Dispatch& d) {
  CLI::App* model = app.add_subcommand("model", "Model identity: hash a model file or directory, sign and verify it (OpenSSF model_signing)");
  model->require_subcommand(1);

  auto h = std::make_shared<ModelArgs>();
  CLI::App* hash = model->add_subcommand("hash", "Hash a model file or Hugging Face-style directory: files, safetensors headers, "
                                                 "shard indexes, card; print its model_signing root digest");
  hash->add_option("MODEL", h->model, "Model file or directory")->required();
  AddHashOptions(hash, h.get());
  hash->add_flag("--json", h->as_json, "Print the identity as JSON (schemas/model-identity.schema.json)");
  hash->callback([&d, h] {
    d.handler = ExitZeroOr([h]() -> Status {
      DG_ASSIGN_OR_RETURN(ModelManifest m, HashModel(h->model, HashOptionsOf(*h)));
      if (h->as_json) {
        std::cout << m.ToJson().dump(2) << "\n";
      } else {
        PrintSummary(m);
      }
      return Status::Ok();
    });
  });

  auto s = std::make_shared<ModelArgs>();
  CLI::App* sign = model->add_subcommand("sign", "Write an OpenSSF model_signing v1.x signature (key mode, ECDSA P-256/P-384/P-521)");
  sign->add_option("MODEL", s->model, "Model file or directory")->required();
  sign->add_option("--key", s->key, "ECDSA private key, PEM (mode 0600)")->required();
  sign->add_option("--out", s->out, "Signature file to write (a Sigstore bundle; model_signing calls it model.sig)")->required();
  AddHashOptions(sign, s.get());
  sign->callback([&d, s] {
    d.handler = ExitZeroOr([s]() -> Status {
      DG_ASSIGN_OR_RETURN(EcPrivateKey key, EcPrivateKey::LoadPemFile(s->key));
      // The signature file is left out of what it signs, as model_signing does.
      DG_ASSIGN_OR_RETURN(ModelManifest m, HashModel(s->model, HashOptionsOf(*s, {s->out})));
      DG_ASSIGN_OR_RETURN(std::string bundle, SignModelManifest(m, key));
      DG_RETURN_IF_ERROR(WriteFileAtomic(s->out, bundle, 0644, /*exclusive=*/false));
      PrintSummary(m);
      std::cout << "signature:   " << s->out << " (" << key.public_key().curve() << ", key hint "
                << HexEncode(Sha256(key.public_key().pem())).substr(0, 16) << "…)\n";
      return Status::Ok();
    });
  });

  auto v = std::make_shared<ModelArgs>();
  CLI::App* verify = model->add_subcommand("verify", "Verify an OpenSSF model_signing key-mode signature over a model file or directory");
  verify->add_option("MODEL", v->model, "Model file or directory")->required();
  verify->add_option("--sig,--signature", v->sig, "Signature file (Sigstore bundle)")->required();
  auto* pub = verify->add_option("--pubkey,--public-key", v->pubkey, "Key mode: the signer's ECDSA public key, PEM");
  auto* chain = verify->add_option("--cert-chain,--certificate-chain", v->cert_chain,
                                   "Certificate mode: PEM certificate(s) to trust (model_signing's --certificate_chain)");
  pub->excludes(chain);
  chain->excludes(pub);
  verify->add_option("--ignore-paths", v->ignore, "More paths (relative to the working directory) to leave out");
  verify->add_option("--threads", v->threads, "Files hashed in parallel (default: one per core)");
  verify->add_flag("--no-ignore-git-paths", v->no_git, "Hash .git, .gitattributes, .github and .gitignore too (as signed with it)");
  verify->add_flag("--json", v->as_json, "Print the result as JSON");
  verify->callback([&d, v] {
    d.handler = [v]() -> StatusOr<int> {
      if (v->pubkey.empty() && v->cert_chain.empty()) {
        return Status::InvalidInput("model verify: give --pubkey (a key-signed bundle) or --cert-chain (a certificate-signed one)");
      }
      std::optional<ModelSigningTrust> trust;
      std::string signer;
      if (!v->pubkey.empty()) {
        DG_ASSIGN_OR_RETURN(EcPublicKey key, EcPublicKey::LoadPemFile(v->pubkey));
        signer = "the " + key.curve() + " key " + v->pubkey;
        trust = ModelSigningTrust::Key(std::move(key));
      } else {
        std::string pem;
        for (const std::string& f : v->cert_chain) {
          DG_ASSIGN_OR_RETURN(std::string one, ReadFile(f));
          pem += one + "\n";
        }
        signer = "a certificate that chains to " + v->cert_chain[0];
        trust = ModelSigningTrust::Certificates(std::move(pem));
      }
      DG_ASSIGN_OR_RETURN(std::string bundle, ReadFile(v->sig));
      std::vector<std::string> ignores = RelativeIgnores(v->model, v->ignore);
      for (const std::string& p : RelativeIgnores(v->model, {v->sig})) ignores.push_back(p);
      StatusOr<ModelSignatureCheck> c = VerifyModelSignature(bundle, v->sig, *trust, v->model, ignores, v->threads, !v->no_git);
      if (!c.ok()) {
        if (v->as_json) {
          std::cout << nlohmann::json{{"verified", false}, {"error", c.status().message()}}.dump(2) << "\n";
        } else {
          std::cout << "NOT VERIFIED: " << c.status().message() << "\n";
        }
        return c.status().ExitCode();
      }
      const SignedModelManifest& sm = c->signed_manifest;
      if (v->as_json) {
        std::cout << nlohmann::json{{"verified", true},
                                    {"model", sm.model_name},
                                    {"root_sha256", sm.predicate_type == kModelSigningPredicateCompat ? nlohmann::json() : nlohmann::json(HexEncode(sm.root))},
                                    {"predicate_type", sm.predicate_type},
                                    {"serialization", sm.serialization},
                                    {"resources", sm.resources.size()},
                                    {"warnings", sm.warnings}}
                         .dump(2)
                  << "\n";
      } else {
        for (const std::string& w : sm.warnings) std::cout << "warning: " << w << "\n";
        const bool legacy = sm.predicate_type == kModelSigningPredicateCompat;
        std::cout << "VERIFIED: " << v->model << " matches " << v->sig << ": " << sm.resources.size() << " resources ("
                  << sm.serialization.value("method", "") << "), "
                  << (legacy ? std::string("no root signed (legacy predicate)") : "root sha256:" + HexEncode(sm.root)) << ", signed by "
                  << signer << "\n";
      }
      return 0;
    };
  });
}

}  // namespace dg::cli
