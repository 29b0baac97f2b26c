// Helpers shared by the benchmarks: running a process as a benchmark body,
// and a console reporter that keeps each result for the side-by-side summary.
#ifndef DISTILLGATE_BENCH_BENCH_UTIL_H_
#define DISTILLGATE_BENCH_BENCH_UTIL_H_

#include <benchmark/benchmark.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace dg::bench {

// Runs argv (stdout to /dev/null) and returns its exit status.
inline int RunProcess(const std::vector<std::string>& argv) {
  pid_t pid = fork();
  if (pid == 0) {
    std::freopen("/dev/null", "w", stdout);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}


// Real time of each run, by benchmark name, in the benchmark's unit.
class Collect : public benchmark::ConsoleReporter {
 public:
  Collect() : ConsoleReporter(isatty(1) ? OO_ColorTabular : OO_Tabular) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) ms[r.benchmark_name()] = r.GetAdjustedRealTime();
  }
  std::map<std::string, double> ms;
};

// The first result whose name starts with `prefix` (0 when none).
inline double Get(const Collect& c, const std::string& prefix) {
  for (const auto& [k, v] : c.ms) {
    if (k.rfind(prefix, 0) == 0) return v;
  }
  return 0.0;
}

}  // namespace dg::bench

#endif  // DISTILLGATE_BENCH_BENCH_UTIL_H_
