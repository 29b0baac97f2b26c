#include "core/interrupt.h"

#include <signal.h>

#include <atomic>
#include <cstring>

namespace dg {
namespace {

std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the flag is set from a signal handler");

extern "C" void OnStopSignal(int signal) {
  int none = 0;
  g_stop_signal.compare_exchange_strong(none, signal);  // the first signal is the one reported
}

}  // namespace

void InstallStopHandlers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  // SA_RESETHAND: a second signal has its default effect (ends the process);
  // SA_RESTART: system calls in progress (reads, writes, SQLite) carry on.
  sa.sa_flags = SA_RESETHAND | SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int StopSignal() { return g_stop_signal.load(std::memory_order_relaxed); }

void RequestStop(int signal) { OnStopSignal(signal); }

void ClearStopRequest() { g_stop_signal.store(0); }

std::string SignalName(int signal) {
  if (signal == SIGINT) return "SIGINT";
  if (signal == SIGTERM) return "SIGTERM";
  return "signal " + std::to_string(signal);
}

Status CheckNotStopped(const std::string& what) {
  const int s = StopSignal();
  if (s == 0) return Status::Ok();
  return Status::Interrupted(s, what + " stopped by " + SignalName(s));
}

}  // namespace dg
