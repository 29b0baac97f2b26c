// Ledger benchmarks, each beside its baseline in the same run:
//   append:  raw SQLite inserts of the same rows (same pragmas, same batch
//            size) vs ledger appends (hashing, stored nodes, one signed
//            checkpoint per batch);
//   fsck:    full verification of a large ledger vs bare SHA-256 leaf
//            hashing of the same entries;
//   proofs:  inclusion proof generation from SQLite and verification.
// Ratios are printed at the end. Usage:
//   build/bench/ledger_bench [--entries=N] [google-benchmark flags]
#include <benchmark/benchmark.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/canonical_json.h"
#include "ledger/fsck.h"
#include "ledger/ledger.h"
#include "ledger/merkle.h"

namespace {

using dg::Hash;
using dg::Ledger;
using dg::LedgerEntry;

constexpr int kBatch = 1000;
uint64_t g_fsck_entries = 1000000;  // --entries=N
std::string g_dir;

// A teacher-call-like entry body (~250 bytes of canonical JSON).
nlohmann::json Body(uint64_t i) {
  char hex[65];
  for (int k = 0; k < 64; ++k) hex[k] = "0123456789abcdef"[(i * 7 + static_cast<uint64_t>(k) * 13) % 16];
  hex[64] = 0;
  return {{"teacher", "teacher-cnn-fmnist"},
          {"batch", i},
          {"input_sha256", hex},
          {"output_sha256", hex},
          {"count", 128},
          {"time", "2026-11-29T12:00:00Z"}};
}

std::vector<LedgerEntry> MakeBatch(uint64_t start) {
  std::vector<LedgerEntry> out;
  out.reserve(kBatch);
  for (int i = 0; i < kBatch; ++i) out.push_back(*LedgerEntry::Make("teacher_call", Body(start + static_cast<uint64_t>(i))));
  return out;
}

// The entries both append benchmarks write, made once, outside the timing.
const std::vector<std::vector<LedgerEntry>>& Batches() {
  static const auto batches = [] {
    std::vector<std::vector<LedgerEntry>> out;
    for (uint64_t b = 0; b < 200; ++b) out.push_back(MakeBatch(b * kBatch));
    return out;
  }();
  return batches;
}

dg::PrivateKey Key() { return *dg::PrivateKey::FromSeed(std::string(32, 'b')); }

void Check(int rc, sqlite3* db) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE) {
    std::fprintf(stderr, "sqlite: %s\n", sqlite3_errmsg(db));
    std::exit(3);
  }
}

// Raw SQLite baseline: the same rows into a plain table, WAL +
// synchronous=FULL, one transaction per batch, one prepared statement.
class RawTable {
 public:
  explicit RawTable(const std::string& path) {
    std::filesystem::remove(path);
    std::filesystem::remove(path + "-wal");
    Check(sqlite3_open(path.c_str(), &db_), db_);
    // The same page size as a ledger's, so that only the ledger's own work differs.
    const std::string setup = "PRAGMA page_size=" + std::to_string(Ledger::kPageSize) +
                              "; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                              "CREATE TABLE leaf(idx INTEGER PRIMARY KEY, kind TEXT NOT NULL, data BLOB NOT NULL);";
    Check(sqlite3_exec(db_, setup.c_str(), nullptr, nullptr, nullptr), db_);
    Check(sqlite3_prepare_v2(db_, "INSERT INTO leaf(idx, kind, data) VALUES (?1, ?2, ?3)", -1, &ins_, nullptr), db_);
  }
  ~RawTable() {
    sqlite3_finalize(ins_);
    sqlite3_close(db_);
  }
  void Insert(const std::vector<LedgerEntry>& batch) {
    Check(sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), db_);
    for (const auto& e : batch) {
      sqlite3_bind_int64(ins_, 1, static_cast<int64_t>(next_++));
      sqlite3_bind_text(ins_, 2, e.kind().data(), static_cast<int>(e.kind().size()), SQLITE_STATIC);
      sqlite3_bind_blob(ins_, 3, e.data().data(), static_cast<int>(e.data().size()), SQLITE_STATIC);
      Check(sqlite3_step(ins_), db_);
      sqlite3_reset(ins_);
    }
    Check(sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr), db_);
  }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* ins_ = nullptr;
  uint64_t next_ = 0;
};

// Side by side in one loop: each iteration writes the same batch of 1000
// entries once as raw rows and once as a ledger append (alternating which
// goes first), so both see the same disk and cache conditions.
void BM_AppendSideBySide(benchmark::State& state) {
  RawTable raw(g_dir + "/raw.db");
  const std::string path = g_dir + "/append.db";
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  auto key = Key();
  if (!Ledger::Init(path, key, "bench.example/ledger").ok()) std::exit(3);
  auto ledger = *Ledger::Open(path, Ledger::Mode::kReadWrite);
  const auto& batches = Batches();
  double raw_s = 0, ledger_s = 0;
  size_t it = 0;
  for (auto _ : state) {
    const auto& batch = batches[it % batches.size()];
    for (int leg = 0; leg < 2; ++leg) {
      const bool do_raw = (leg == 0) == (it % 2 == 0);
      auto t0 = std::chrono::steady_clock::now();
      if (do_raw) {
        raw.Insert(batch);
      } else if (!ledger->Append(batch, key).ok()) {
        state.SkipWithError("append failed");
      }
      double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      (do_raw ? raw_s : ledger_s) += dt;
    }
    ++it;
  }
  const double n = static_cast<double>(it) * kBatch;
  state.counters["raw_rows_per_s"] = n / raw_s;
  state.counters["ledger_entries_per_s"] = n / ledger_s;
  state.counters["ratio"] = raw_s / ledger_s;
}

// Canonicalising entries (RFC 8785), which callers do before appending.
void BM_EntryMake(benchmark::State& state) {
  uint64_t i = 0;
  std::vector<nlohmann::json> bodies;
  for (int k = 0; k < kBatch; ++k) bodies.push_back(Body(static_cast<uint64_t>(k)));
  for (auto _ : state) {
    auto e = LedgerEntry::Make("teacher_call", bodies[i++ % kBatch]);
    benchmark::DoNotOptimize(e);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// The one-pass canonical-JSON check fsck runs on every entry.
void BM_CanonicalCheck(benchmark::State& state) {
  const auto& batch = Batches()[0];
  size_t i = 0;
  for (auto _ : state) {
    size_t members = 0;
    bool ok = dg::IsCanonicalJson(batch[i++ % batch.size()].data(), nullptr, &members);
    if (!ok) state.SkipWithError("not canonical");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// A large ledger shared by the fsck and proof benchmarks.
Ledger* BigLedger() {
  static std::unique_ptr<Ledger> ledger = [] {
    const std::string path = g_dir + "/big.db";
    auto key = Key();
    if (!Ledger::Init(path, key, "bench.example/ledger").ok()) std::exit(3);
    auto l = *Ledger::Open(path, Ledger::Mode::kReadWrite);
    auto t0 = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < g_fsck_entries; i += kBatch) {
      if (!l->Append(MakeBatch(i), key).ok()) std::exit(3);
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "built a %llu-entry ledger in %.1f s\n", static_cast<unsigned long long>(g_fsck_entries), s);
    return l;
  }();
  return ledger.get();
}

dg::NoteVerifier Verifier() { return *dg::NoteVerifier::Make("bench.example/ledger", Key().public_key()); }

void BM_Fsck(benchmark::State& state) {
  Ledger* l = BigLedger();
  dg::FsckOptions opt;
  opt.check_entry_encoding = state.range(0) != 0;
  for (auto _ : state) {
    auto r = dg::Fsck(*l, Verifier(), opt);
    if (!r.ok() || r->problem_count != 0) state.SkipWithError("fsck failed");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * g_fsck_entries));
}

// Baseline: RFC 6962 leaf hashes of the same entries, already in memory.
void BM_BareSha256Leaves(benchmark::State& state) {
  std::vector<std::string> data;
  data.reserve(g_fsck_entries);
  for (uint64_t i = 0; i < g_fsck_entries; i += kBatch) {
    for (auto& e : MakeBatch(i)) data.push_back(e.data());
  }
  for (auto _ : state) {
    Hash acc{};
    for (const auto& d : data) {
      Hash h = dg::LeafHash(d);
      acc[0] ^= h[0];
    }
    benchmark::DoNotOptimize(acc);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * g_fsck_entries));
}

void BM_InclusionProofGenerate(benchmark::State& state) {
  Ledger* l = BigLedger();
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    auto p = l->InclusionProof(rng() % g_fsck_entries, g_fsck_entries);
    if (!p.ok()) state.SkipWithError("proof failed");
    benchmark::DoNotOptimize(p);
  }
}

void BM_InclusionProofVerify(benchmark::State& state) {
  Ledger* l = BigLedger();
  const uint64_t idx = g_fsck_entries / 3;
  auto proof = *l->InclusionProof(idx, g_fsck_entries);
  auto leaf = *l->GetLeaf(idx);
  auto root = *l->RootAt(g_fsck_entries);
  for (auto _ : state) {
    auto s = dg::VerifyInclusion(idx, g_fsck_entries, leaf.leaf_hash, proof, root);
    if (!s.ok()) state.SkipWithError("verify failed");
  }
}

void BM_CheckpointVerify(benchmark::State& state) {
  Ledger* l = BigLedger();
  const std::string note = *l->HeadNote();
  auto v = Verifier();
  for (auto _ : state) {
    auto cp = dg::OpenCheckpoint(note, v);
    if (!cp.ok()) state.SkipWithError("checkpoint failed");
  }
}

BENCHMARK(BM_AppendSideBySide)->Iterations(200)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_EntryMake);
BENCHMARK(BM_CanonicalCheck);
BENCHMARK(BM_BareSha256Leaves)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Fsck)->Arg(1)->Arg(0)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_InclusionProofGenerate)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_InclusionProofVerify)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CheckpointVerify)->Unit(benchmark::kMicrosecond);

// Collects results so that main() can print the ratios side by side.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  RatioReporter() : ConsoleReporter(isatty(1) ? OO_ColorTabular : OO_Tabular) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) {
      auto counter = [&r](const char* name) {
        auto it = r.counters.find(name);
        return it != r.counters.end() ? it->second.value : 0.0;
      };
      results[r.benchmark_name()] = {counter("items_per_second"), r.GetAdjustedRealTime(), r.time_unit,
                                     counter("raw_rows_per_s"), counter("ledger_entries_per_s"), counter("ratio")};
    }
  }
  struct Result {
    double items_per_s, real_time;
    benchmark::TimeUnit unit;
    double raw_per_s, ledger_per_s, ratio;
  };
  std::map<std::string, Result> results;
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--entries=", 10) == 0) g_fsck_entries = std::stoull(argv[i] + 10);
    else args.push_back(argv[i]);
  }
  g_fsck_entries = (g_fsck_entries + kBatch - 1) / kBatch * kBatch;
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  char tmpl[] = "/tmp/dgbench-XXXXXX";
  g_dir = mkdtemp(tmpl);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  auto get = [&](const std::string& prefix) -> const RatioReporter::Result* {
    for (const auto& [name, r] : reporter.results) {
      if (name.rfind(prefix, 0) == 0) return &r;
    }
    return nullptr;
  };
  std::printf("\n== side by side ==\n");
  if (auto app = get("BM_AppendSideBySide")) {
    std::printf("append (batches of %d, WAL, synchronous=FULL): ledger %.0f entries/s vs raw SQLite %.0f rows/s: "
                "ratio %.2fx (goal >= 0.80x)\n",
                kBatch, app->ledger_per_s, app->raw_per_s, app->ratio);
  }
  auto fsck = get("BM_Fsck/1"), fsck_fast = get("BM_Fsck/0"), sha = get("BM_BareSha256Leaves");
  if (fsck && sha) {
    std::printf("fsck of %llu entries: %.2f s with entry-encoding check, %.2f s without (goal <= 1.5 s); "
                "bare SHA-256 of the leaves %.2f s: ratio %.1fx / %.1fx\n",
                static_cast<unsigned long long>(g_fsck_entries), fsck->real_time / 1e3,
                fsck_fast ? fsck_fast->real_time / 1e3 : 0.0, sha->real_time / 1e3, fsck->real_time / sha->real_time,
                fsck_fast ? fsck_fast->real_time / sha->real_time : 0.0);
  }
  auto gen = get("BM_InclusionProofGenerate"), ver = get("BM_InclusionProofVerify"), cp = get("BM_CheckpointVerify");
  if (gen && ver) {
    std::printf("inclusion proof in a %llu-entry ledger: generate %.1f us (goal <= 100), verify %.2f us (goal <= 10)%s\n",
                static_cast<unsigned long long>(g_fsck_entries), gen->real_time, ver->real_time,
                cp ? (", checkpoint signature " + std::to_string(cp->real_time) + " us").c_str() : "");
  }
  std::error_code ec;
  std::filesystem::remove_all(g_dir, ec);
  return 0;
}
