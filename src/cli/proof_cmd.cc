#include <iostream>

#include "cli/commands.h"
#include "core/canonical_json.h"
#include "core/file_util.h"
#include "ledger/key_files.h"
#include "ledger/proof_bundle.h"

namespace dg::cli {

void RegisterProof(CLI::App& app, Dispatch& d) {
  CLI::App* proof = app.add_subcommand("proof", "Verify proofs offline, without the ledger");
  proof->require_subcommand(1);
  CLI::App* verify = proof->add_subcommand(
      "verify", "Check a `ledger prove` output: checkpoint signature, inclusion path and disclosed entry");
  auto path = std::make_shared<std::string>();
  auto vkey = std::make_shared<std::string>();
  verify->add_option("--proof", *path, "Proof JSON from `distillgate ledger prove`")->required();
  verify->add_option("--vkey", *vkey, "Trusted verifier key (ledger.vkey; or ledger.pub)")->required();
  auto as_json = std::make_shared<bool>(false);
  verify->add_flag("--json", *as_json, "Print {verified, index, origin, tree_size, key} as JSON (on a failed check: {verified: false, index, error}, exit 1)");
  verify->callback([&d, path, vkey, as_json] {
    d.handler = ExitZeroOr([path, vkey, as_json]() -> Status {
      DG_ASSIGN_OR_RETURN(std::string text, ReadFile(*path));
      DG_ASSIGN_OR_RETURN(nlohmann::json j, ParseJsonStrict(text, *path));
      DG_ASSIGN_OR_RETURN(InclusionBundle b, InclusionBundleFromJson(j, *path));
      // A PEM key has no name: take the checkpoint's origin (its first line).
      std::string origin = b.checkpoint.substr(0, b.checkpoint.find('\n'));
      DG_ASSIGN_OR_RETURN(NoteVerifier v, LoadTrustedKey(*vkey, origin));
      StatusOr<Checkpoint> checked = VerifyInclusionBundle(b, v);
      if (!checked.ok()) {
        // A check that failed is still an answer: {verified: false, error}.
        if (*as_json && checked.status().code() == Status::Code::kVerifyFailed) {
          std::cout << nlohmann::json{{"verified", false}, {"index", b.leaf_index}, {"error", checked.status().message()}}.dump(2) << "\n";
        }
        return checked.status();
      }
      const Checkpoint& cp = *checked;
      if (*as_json) {
        std::cout << nlohmann::json{{"verified", true}, {"index", b.leaf_index}, {"origin", cp.origin}, {"tree_size", cp.size}, {"key", v.ToString()}}.dump(2)
                  << "\n";
        return Status::Ok();
      }
      std::cout << "OK: entry " << b.leaf_index << " is in " << cp.origin << " at tree size " << cp.size
                << " (checkpoint signed by " << v.ToString() << ")\n";
      return Status::Ok();
    });
  });
}

}  // namespace dg::cli
