// Policy benchmarks (issue 3), each beside its baseline in the same run:
//   `distillgate check` of a 10-teacher job, as a whole process, against
//   starting the same binary for `--help` (process start-up alone), and the
//   in-process evaluation;
//   detecting the license of a ~10 KB license text.
// Usage: build/bench/policy_bench   (run from anywhere; paths are absolute)
#include <benchmark/benchmark.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_util.h"
#include "license/detect.h"
#include "license/knowledge_base.h"
#include "policy/evaluate.h"

namespace {

using nlohmann::json;

std::string g_dir;

json TenTeacherJob() {
  const char* licenses[] = {"MIT", "Apache-2.0", "llama3.1", "gemma", "qwen", "LicenseRef-DeepSeek-License-1.0",
                            "nvidia-open-model-license", "llama3.3", "CC-BY-4.0", "LicenseRef-CreativeML-OpenRAIL-M"};
  json teachers = json::array();
  for (int i = 0; i < 10; ++i) {
    teachers.push_back({{"id", "teacher-" + std::to_string(i)}, {"kind", "local"}, {"license", licenses[i]}});
  }
  return {{"name", "ten-teachers"},
          {"teachers", teachers},
          {"datasets", {{{"id", "d"}, {"license", "CC-BY-4.0"}}}},
          {"student", {{"name", "Llama-Acme-8B"}, {"model_type", "llm"}, {"base_model", {{"name", "b"}, {"license", "Apache-2.0"}}}}},
          {"use", {{"commercial", true}, {"distribution", "open_weights"}, {"purpose", "production"}, {"expected_mau", 1000}}}};
}

void BM_CheckProcess10Teachers(benchmark::State& state) {
  const std::string job = g_dir + "/job.json";
  for (auto _ : state) dg::bench::RunProcess({DG_CLI_PATH, "check", "--job", job, "--json"});
}

void BM_StartupOnlyProcess(benchmark::State& state) {
  for (auto _ : state) dg::bench::RunProcess({DG_CLI_PATH, "--help"});
}

void BM_EvaluateInProcess10Teachers(benchmark::State& state) {
  auto kb = *dg::KnowledgeBase::Builtin();
  auto job = *dg::ParseJob(TenTeacherJob(), "job");
  auto policy = *dg::DefaultPolicy();
  for (auto _ : state) {
    auto d = dg::Evaluate(job, policy, *kb, "2026-11-29");
    benchmark::DoNotOptimize(d);
  }
}

void BM_DetectLicenseText(benchmark::State& state) {
  auto kb = *dg::KnowledgeBase::Builtin();
  std::ifstream f("/usr/share/common-licenses/Apache-2.0");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (text.empty()) text.assign(10240, 'x');
  for (auto _ : state) {
    auto d = dg::DetectFromText(text, "LICENSE", *kb);
    benchmark::DoNotOptimize(d);
  }
  state.counters["bytes"] = static_cast<double>(text.size());
}

BENCHMARK(BM_CheckProcess10Teachers)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();
BENCHMARK(BM_StartupOnlyProcess)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();
BENCHMARK(BM_EvaluateInProcess10Teachers)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_DetectLicenseText)->Unit(benchmark::kMicrosecond);


}  // namespace

int main(int argc, char** argv) {
  char tmpl[] = "/tmp/dgpolicybench-XXXXXX";
  g_dir = mkdtemp(tmpl);
  std::ofstream(g_dir + "/job.json") << TenTeacherJob().dump(2);
  benchmark::Initialize(&argc, argv);
  dg::bench::Collect c;
  benchmark::RunSpecifiedBenchmarks(&c);
  auto get = [&c](const std::string& prefix) {
    for (const auto& [k, v] : c.ms) {
      if (k.rfind(prefix, 0) == 0) return v;
    }
    return 0.0;
  };
  const double check = get("BM_CheckProcess10Teachers"), start = get("BM_StartupOnlyProcess");
  std::printf("\n== side by side ==\ncheck of a 10-teacher job: %.1f ms process wall (goal <= 50 ms); the same binary's "
              "start-up alone (--help): %.1f ms, so %.1f ms is loading the knowledge base and deciding; in-process "
              "evaluation %.0f us\n",
              check, start, check - start, get("BM_EvaluateInProcess10Teachers"));
  std::printf("license detection of a %s text: %.0f us (goal <= 5 ms)\n", "~11 KB Apache-2.0", get("BM_DetectLicenseText"));
  std::filesystem::remove_all(g_dir);
  return 0;
}
