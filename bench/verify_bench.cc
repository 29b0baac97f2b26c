// Verification of a lineage claim (issue 5): `distillgate verify` of a
// bundle for a run with N recorded teacher calls (default 1,000,000; goal
// <= 50 ms), beside its baselines in the same run: the same binary's
// start-up alone (--help) and `openssl pkeyutl -verify` of the same DSSE
// signature as a process. Also: the in-process check, verify --ledger (which
// re-hashes every teacher call), and attest.
// Usage: build/bench/verify_bench [--calls=N]
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "bench_util.h"
#include "core/dsse.h"
#include "core/encoding.h"
#include "core/file_util.h"
#include "attest/attestation.h"
#include "attest/claim_verify.h"
#include "synthetic_run.h"

namespace {

using nlohmann::json;
dg::testing::SyntheticRun g_run;
std::string g_bundle;
json g_envelope;

void Write(const std::string& path, const std::string& data) { std::ofstream(path, std::ios::binary) << data; }

void BM_VerifyProcess(benchmark::State& state) {
  for (auto _ : state) {
    if (dg::bench::RunProcess({DG_CLI_PATH, "verify", "--model", g_run.model, "--bundle", g_bundle, "--vkey", g_run.vkey}) != 0) {
      state.SkipWithError("verify failed");
    }
  }
}

void BM_StartupOnlyProcess(benchmark::State& state) {
  for (auto _ : state) dg::bench::RunProcess({DG_CLI_PATH, "--help"});
}

void BM_OpensslVerifyProcess(benchmark::State& state) {
  const std::string dir = g_run.dir;
  for (auto _ : state) {
    if (dg::bench::RunProcess({"/usr/bin/openssl", "pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", g_run.pub, "-in",
                               dir + "/pae.bin", "-sigfile", dir + "/sig.bin"}) != 0) {
      state.SkipWithError("openssl failed");
    }
  }
}

void BM_VerifyInProcess(benchmark::State& state) {
  dg::NoteVerifier key = *dg::NoteVerifier::Parse(*dg::ReadFile(g_run.vkey));
  for (auto _ : state) {
    auto r = dg::VerifyClaim({{g_run.model}, g_envelope, "bundle", key, nullptr, nullptr});
    if (!r.ok() || !r->ok()) state.SkipWithError("verify failed");
  }
}

void BM_VerifyWithLedgerProcess(benchmark::State& state) {
  for (auto _ : state) {
    dg::bench::RunProcess({DG_CLI_PATH, "verify", "--model", g_run.model, "--bundle", g_bundle, "--vkey", g_run.vkey, "--ledger", g_run.ledger});
  }
}

void BM_AttestProcess(benchmark::State& state) {
  const std::string out = g_run.dir + "/again.json";
  for (auto _ : state) {
    std::filesystem::remove(out);
    dg::bench::RunProcess({DG_CLI_PATH, "attest", "--ledger", g_run.ledger, "--key", g_run.key, "--run", g_run.run_id, "--model", g_run.model, "--out", out});
  }
}

BENCHMARK(BM_VerifyProcess)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();
BENCHMARK(BM_StartupOnlyProcess)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();
BENCHMARK(BM_OpensslVerifyProcess)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();
BENCHMARK(BM_VerifyInProcess)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_VerifyWithLedgerProcess)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();
BENCHMARK(BM_AttestProcess)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  uint64_t calls = 1000000;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--calls=", 8) == 0) calls = std::stoull(argv[i] + 8);
  }
  char tmpl[] = "/tmp/dgverifybench-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  dg::testing::SyntheticRunOptions o;
  o.teacher_calls = calls;
  o.flush_every = 64;  // as `distillgate run` records them
  const auto t0 = std::chrono::steady_clock::now();
  auto run = dg::testing::MakeSyntheticRun(dir, o);
  if (!run.ok()) {
    std::fprintf(stderr, "set-up failed: %s\n", run.status().ToString().c_str());
    return 1;
  }
  g_run = *run;
  const double setup_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  g_bundle = dir + "/bundle.json";
  if (dg::bench::RunProcess({DG_CLI_PATH, "attest", "--ledger", g_run.ledger, "--key", g_run.key, "--run", g_run.run_id, "--model", g_run.model, "--out", g_bundle}) != 0) {
    std::fprintf(stderr, "attest failed\n");
    return 1;
  }
  g_envelope = json::parse(*dg::ReadFile(g_bundle));
  const std::string payload = *dg::Base64Decode(g_envelope["payload"].get<std::string>());
  Write(dir + "/pae.bin", dg::DssePae(g_envelope["payloadType"].get<std::string>(), payload));
  Write(dir + "/sig.bin", *dg::Base64Decode(g_envelope["signatures"][0]["sig"].get<std::string>()));
  std::printf("set-up: a run with %llu teacher calls (%zu-byte bundle, %s ledger of %.0f MB) in %.1f s\n",
              static_cast<unsigned long long>(calls), g_envelope.dump().size(), g_run.ledger.c_str(),
              std::filesystem::file_size(g_run.ledger) / 1e6, setup_s);
  benchmark::Initialize(&argc, argv);
  dg::bench::Collect c;
  benchmark::RunSpecifiedBenchmarks(&c);
  const double verify = dg::bench::Get(c, "BM_VerifyProcess"), start = dg::bench::Get(c, "BM_StartupOnlyProcess"),
               openssl = dg::bench::Get(c, "BM_OpensslVerifyProcess");
  std::printf("\n== side by side (%llu teacher calls) ==\n", static_cast<unsigned long long>(calls));
  std::printf("distillgate verify (offline): %.1f ms process wall (goal <= 50 ms) = %.2fx the binary's start-up alone "
              "(%.1f ms) and %.2fx `openssl pkeyutl -verify` of the same signature (%.1f ms); in-process %.2f ms\n",
              verify, verify / start, start, verify / openssl, openssl, dg::bench::Get(c, "BM_VerifyInProcess"));
  std::printf("verify --ledger (re-hashes all %llu calls): %.0f ms; attest: %.0f ms\n", static_cast<unsigned long long>(calls),
              dg::bench::Get(c, "BM_VerifyWithLedgerProcess"), dg::bench::Get(c, "BM_AttestProcess"));
  std::filesystem::remove_all(dir);
  return 0;
}
