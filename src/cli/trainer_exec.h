// The LibTorch trainer lives in a separate executable, distillgate-train,
// beside distillgate: loading LibTorch costs ~0.7 s per process, which the
// auditor commands (verify, check, proofs) must not pay, and a verifier must
// run where LibTorch is not installed at all. `distillgate run` and
// `distillgate train-teacher` hand over to it.
//
// These fork/exec child processes; call them from the main thread only.
#ifndef DISTILLGATE_CLI_TRAINER_EXEC_H_
#define DISTILLGATE_CLI_TRAINER_EXEC_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace dg::cli {

// <directory of this executable>/distillgate-train
std::string TrainerPath();
bool HaveTrainer();

// Replaces this process with the trainer (same arguments); returns only on failure.
Status ExecTrainer(int argc, char** argv);

// Runs the trainer with `args` (the JSON summary flag is added), forwarding
// its stderr; returns its exit code and parsed stdout (null when it printed
// no JSON). IoError when there is no trainer or it cannot be started.
struct TrainerRun {
  int exit_code = 0;
  nlohmann::json summary;
};
StatusOr<TrainerRun> RunTrainer(const std::vector<std::string>& args);

// Starts the trainer with `args` (nothing added) and returns at once: its pid
// and the read end of its stdout (the caller closes it and reaps the child).
// `die_with_parent`: the child gets SIGTERM when this process dies (a server
// that must not outlive the command). IoError when there is no trainer.
struct SpawnedTrainer {
  pid_t pid = -1;
  int stdout_fd = -1;
};
StatusOr<SpawnedTrainer> SpawnTrainer(const std::vector<std::string>& args, bool die_with_parent);

}  // namespace dg::cli

#endif  // DISTILLGATE_CLI_TRAINER_EXEC_H_
