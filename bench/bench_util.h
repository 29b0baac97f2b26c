// Helpers shared by the benchmarks: running a process as a benchmark body,
// and a console reporter that keeps each result for the side-by-side summary.
#ifndef DISTILLGATE_BENCH_BENCH_UTIL_H_
#define DISTILLGATE_BENCH_BENCH_UTIL_H_

#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace dg::bench {

struct ProcessResult {
  int status = -1;       // exit status (128 when killed)
  double seconds = 0;    // wall time
  long max_rss_kb = 0;   // peak resident set size
  double cpu_seconds = 0;  // user + system time of all its threads
};

// Runs argv with stdout to /dev/null; wall time, CPU time and peak memory.
inline ProcessResult RunMeasured(const std::vector<std::string>& argv) {
  const auto t0 = std::chrono::steady_clock::now();
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
  struct rusage ru {};
  wait4(pid, &status, 0, &ru);
  ProcessResult r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.max_rss_kb = ru.ru_maxrss;
  r.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                  static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return r;
}

// Runs argv (stdout to /dev/null) and returns its exit status.
inline int RunProcess(const std::vector<std::string>& argv) { return RunMeasured(argv).status; }

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
