#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "cli/arg_checks.h"
#include "cli/commands.h"
#include "core/canonical_json.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "cli/entry_input.h"
#include "ledger/fsck.h"
#include "ledger/key_files.h"
#include "ledger/ledger.h"
#include "ledger/proof_bundle.h"
#include "record/run_status.h"

namespace dg::cli {
namespace {

struct LedgerArgs {
  std::string ledger, key, origin, kind, json_path = "-", pubkey, since;
  uint64_t from = 0, index = 0, old_size = 0;
  std::optional<uint64_t> to, size, new_size;
  bool as_json = false;
};

Status RunInit(const LedgerArgs& a) {
  DG_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::LoadPemFile(a.key));
  DG_RETURN_IF_ERROR(Ledger::Init(a.ledger, key, a.origin));
  DG_ASSIGN_OR_RETURN(NoteVerifier v, NoteVerifier::Make(a.origin, key.public_key()));
  std::cout << "created ledger " << a.ledger << " (origin " << a.origin << ", size 0)\n"
            << "verifier key: " << v.ToString() << "\n";
  return Status::Ok();
}

Status RunAppend(const LedgerArgs& a) {
  if (IsReservedEntryKind(a.kind)) {
    return Status::InvalidInput("--kind " + a.kind + ": entries of this kind are written only by distillgate itself (the gate "
                                "and the run lifecycle: check --ledger, run, transcripts record, …), never by hand");
  }
  DG_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::LoadPemFile(a.key));
  DG_ASSIGN_OR_RETURN(std::string text, ReadFile(a.json_path));
  DG_ASSIGN_OR_RETURN(auto objects, ParseEntryObjects(text, a.json_path == "-" ? "<stdin>" : a.json_path));
  std::vector<LedgerEntry> entries;
  entries.reserve(objects.size());
  for (size_t i = 0; i < objects.size(); ++i) {
    auto e = LedgerEntry::Make(a.kind, objects[i]);
    if (!e.ok()) return e.status().WithContext("entry " + std::to_string(i + 1));
    entries.push_back(std::move(e).value());
  }
  DG_ASSIGN_OR_RETURN(auto ledger, Ledger::Open(a.ledger, Ledger::Mode::kReadWrite));
  DG_ASSIGN_OR_RETURN(AppendResult r, ledger->Append(entries, key));
  std::cout << r.tree_size << "\n";
  return Status::Ok();
}

Status RunShow(const LedgerArgs& a) {
  DG_ASSIGN_OR_RETURN(auto ledger, Ledger::Open(a.ledger, Ledger::Mode::kReadOnly));
  DG_ASSIGN_OR_RETURN(uint64_t size, ledger->Size());
  const uint64_t to = std::min(a.to.value_or(size), size);
  if (a.from > size) {
    return Status::InvalidInput("--from " + std::to_string(a.from) + " is past the end: the ledger holds " + std::to_string(size) +
                                " entries (indices 0 to " + std::to_string(size == 0 ? 0 : size - 1) + ")");
  }
  if (a.to && *a.to < a.from) return Status::InvalidInput("--to " + std::to_string(*a.to) + " is below --from " + std::to_string(a.from));
  if (!a.as_json) {
    std::cout << "ledger " << a.ledger << ": origin " << ledger->origin() << ", " << Counted(size, "entry", "entries") << "\n";
  }
  DG_ASSIGN_OR_RETURN(auto scan, ledger->ScanLeaves(a.from, to));
  StoredLeaf leaf;
  for (;;) {
    DG_ASSIGN_OR_RETURN(bool more, scan->Next(&leaf));
    if (!more) break;
    if (a.as_json) {
      nlohmann::json line = {{"index", leaf.index}, {"kind", leaf.kind}, {"leaf_hash", Base64Encode(leaf.leaf_hash)}};
      auto entry = ParseJsonStrict(leaf.data, "entry");
      line["entry"] = entry.ok() ? *entry : nlohmann::json(leaf.data);
      std::cout << line.dump() << "\n";
    } else {
      auto entry = ParseJsonStrict(leaf.data, "entry");
      std::string body = (entry.ok() && entry->is_object() && entry->contains("body")) ? (*entry)["body"].dump() : leaf.data;
      std::cout << leaf.index << "  " << leaf.kind << "  " << HexEncode(leaf.leaf_hash).substr(0, 16) << "  " << body
                << "\n";
    }
  }
  return Status::Ok();
}

Status RunCheckpoint(const LedgerArgs& a) {
  DG_ASSIGN_OR_RETURN(auto ledger, Ledger::Open(a.ledger, Ledger::Mode::kReadOnly));
  DG_ASSIGN_OR_RETURN(std::string note, ledger->HeadNote());
  std::cout << note;
  return Status::Ok();
}

Status RunProve(const LedgerArgs& a) {
  DG_ASSIGN_OR_RETURN(auto ledger, Ledger::Open(a.ledger, Ledger::Mode::kReadOnly));
  DG_ASSIGN_OR_RETURN(InclusionBundle b, MakeInclusionBundle(*ledger, a.index, a.size));
  std::cout << ToJson(b).dump(2) << "\n";
  return Status::Ok();
}

Status RunConsistency(const LedgerArgs& a) {
  DG_ASSIGN_OR_RETURN(auto ledger, Ledger::Open(a.ledger, Ledger::Mode::kReadOnly));
  DG_ASSIGN_OR_RETURN(ConsistencyBundle b, MakeConsistencyBundle(*ledger, a.old_size, a.new_size));
  std::cout << ToJson(b).dump(2) << "\n";
  return Status::Ok();
}

Status RunVerify(const LedgerArgs& a) {
  DG_ASSIGN_OR_RETURN(auto ledger, Ledger::Open(a.ledger, Ledger::Mode::kReadOnly));
  DG_ASSIGN_OR_RETURN(NoteVerifier trusted, LoadTrustedKey(a.pubkey, ledger->origin()));
  FsckOptions opt;
  if (!a.since.empty()) {
    DG_ASSIGN_OR_RETURN(std::string since, ReadFile(a.since));
    // A file that is no signed note at all is bad input, not a ledger that
    // fails to verify.
    if (since.empty() || since.back() != '\n' || since.find("\n\n") == std::string::npos) {
      return Status::InvalidInput(a.since + ": not a checkpoint note (expected the output of `distillgate ledger checkpoint`: "
                                  "<origin>, size and root lines, a blank line, signature lines)");
    }
    opt.since_note = since;
  }
  DG_ASSIGN_OR_RETURN(FsckReport r, Fsck(*ledger, trusted, opt));
  if (a.as_json) {
    nlohmann::json j = {{"ok", r.problem_count == 0},
                        {"tree_size", r.tree_size},
                        {"leaves_checked", r.leaves_checked},
                        {"nodes_checked", r.nodes_checked},
                        {"checkpoints_checked", r.checkpoints_checked},
                        {"problem_count", r.problem_count},
                        {"problems", r.problems}};
    std::cout << j.dump(2) << "\n";
  } else if (r.problem_count == 0) {
    std::cout << "ledger " << a.ledger << " verifies: " << Counted(r.tree_size, "entry", "entries") << ", " << r.nodes_checked
              << " stored nodes, " << r.checkpoints_checked << " signed checkpoints"
              << (opt.since_note ? ", consistent with the saved checkpoint" : "") << "\n";
  }
  return FsckStatus(r);
}

}  // namespace

void RegisterLedger(CLI::App& app, Dispatch& d) {
  CLI::App* lg = app.add_subcommand("ledger", "Create, append to, inspect, prove and verify a ledger");
  lg->require_subcommand(1);
  auto a = std::make_shared<LedgerArgs>();
  auto add_ledger = [&](CLI::App* c) {
    c->add_option("--ledger", a->ledger, "Ledger file (SQLite)")->required();
  };
  auto bind = [&d, a](CLI::App* c, Status (*fn)(const LedgerArgs&)) {
    c->callback([&d, a, fn] { d.handler = ExitZeroOr([a, fn] { return fn(*a); }); });
  };

  CLI::App* init = lg->add_subcommand("init", "Create a new, empty ledger with a signed size-0 checkpoint");
  add_ledger(init);
  init->add_option("--key", a->key, "Ed25519 private key (PEM, mode 0600)")->required();
  init->add_option("--origin", a->origin, "Log origin, e.g. example.com/distill-ledger (the key name)")->required();
  bind(init, RunInit);

  CLI::App* append = lg->add_subcommand(
      "append", "Append one JSON object, or JSON Lines (one object a line), as one batch; prints the new size");
  add_ledger(append);
  append->add_option("--key", a->key, "The ledger's Ed25519 private key (PEM, mode 0600)")->required();
  append->add_option("--kind", a->kind, "Entry kind: a-z 0-9 _ . - (e.g. decision, teacher_call)")->required();
  append->add_option("--input,--json", a->json_path, "File with the entries, or - for standard input (--json: the old name, deprecated)")->capture_default_str();
  bind(append, RunAppend);

  CLI::App* show = lg->add_subcommand("show", "List entries [--from, --to)");
  add_ledger(show);
  show->add_option("--from", a->from, "First index")->capture_default_str()->check(LedgerIndex());
  show->add_option("--to", a->to, "One past the last index (default: the size)")->check(LedgerIndex());
  show->add_flag("--json", a->as_json, "JSON Lines: {index, kind, leaf_hash, entry}");
  bind(show, RunShow);

  CLI::App* cp = lg->add_subcommand("checkpoint", "Print the latest signed checkpoint note exactly");
  add_ledger(cp);
  bind(cp, RunCheckpoint);

  CLI::App* prove = lg->add_subcommand("prove", "Inclusion proof of entry --index against a signed checkpoint (JSON)");
  add_ledger(prove);
  prove->add_option("--index", a->index, "Entry index (0-based)")->required()->check(LedgerIndex());
  prove->add_option("--size", a->size, "Tree size of a kept checkpoint (default: the head)")->check(LedgerIndex());
  bind(prove, RunProve);

  CLI::App* cons = lg->add_subcommand("consistency", "Consistency proof from --old to --new (JSON)");
  add_ledger(cons);
  cons->add_option("--old", a->old_size, "Old tree size")->required()->check(LedgerIndex());
  cons->add_option("--new", a->new_size, "New tree size (default: the head)")->check(LedgerIndex());
  bind(cons, RunConsistency);

  CLI::App* verify = lg->add_subcommand(
      "verify", "Recompute every hash, node, root and signature; with --since, require consistency from a saved checkpoint");
  add_ledger(verify);
  verify->add_option("--pubkey,--vkey", a->pubkey, "Trusted key: ledger.pub (PEM) or ledger.vkey (C2SP); --vkey as elsewhere")->required();
  verify->add_option("--since", a->since, "A checkpoint note saved earlier (from `ledger checkpoint`)");
  verify->add_flag("--json", a->as_json, "Print the report as JSON");
  bind(verify, RunVerify);
}

}  // namespace dg::cli
