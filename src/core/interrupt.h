// Stopping long work cleanly on SIGINT and SIGTERM.
//
// A run that is killed mid-way leaves its ledger record open ("incomplete"
// forever). InstallStopHandlers() makes the first SIGINT or SIGTERM set a
// flag instead: loops that can take long (training steps, teacher calls,
// transcript lines) call CheckNotStopped() and return its Interrupted
// status, the run is closed as `interrupted` in the ledger, and the process
// exits 128 + the signal (130, 143). The handlers reset themselves, so a
// second signal ends the process at once, as it would without them.
//
// Thread safety: the flag is a lock-free atomic; every function may be called
// from any thread. Only the process's main() (or a command's handler) should
// install the handlers.
#ifndef DISTILLGATE_CORE_INTERRUPT_H_
#define DISTILLGATE_CORE_INTERRUPT_H_

#include <string>

#include "core/status.h"

namespace dg {

// Installs the SIGINT and SIGTERM handlers (idempotent).
void InstallStopHandlers();
// The signal that asked to stop (SIGINT, SIGTERM), or 0.
int StopSignal();
// OK, or Interrupted naming the signal and `what` was stopped.
Status CheckNotStopped(const std::string& what);
// For tests and for code that emulates a signal: as if `signal` had arrived.
void RequestStop(int signal);
// Clears the flag (tests).
void ClearStopRequest();
// "SIGINT", "SIGTERM" or "signal N".
std::string SignalName(int signal);

}  // namespace dg

#endif  // DISTILLGATE_CORE_INTERRUPT_H_
