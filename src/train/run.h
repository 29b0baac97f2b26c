// `distillgate run` and `distillgate train-teacher`: gate → ledger →
// training, with every step recorded. No LibTorch in this header.
//
// RunJob reads and checks every input (job, policy, data, teacher, key,
// ledger) before it decides: bad input is InvalidInput/IoError with nothing
// written. In a data-parallel run only rank 0 decides and writes the ledger;
// every other rank waits for rank 0's word, obtains its own permit from the
// ledger (Gate::Admit) for the run rank 0 opened, trains its shard and
// returns (exit_code as rank 0's verdict when refused). Then the decision is recorded (a refusal returns a summary with
// exit_code 1 or 4 and trains nothing), and an allowed run is a RecordedRun:
// every later failure, exception or SIGINT/SIGTERM closes it in the ledger
// (failed / interrupted) and is returned as the error. One run per call; the
// ledger file may be shared with other processes, not the call with threads.
#ifndef DISTILLGATE_TRAIN_RUN_H_
#define DISTILLGATE_TRAIN_RUN_H_

#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "train/trainer.h"

namespace dg {

struct RunOptions {
  std::string job_path, policy_path, ledger_path, key_path;
  std::string device = "cpu";
  bool quiet = false;
  bool train_teacher = false;  // label-only training of the default CNN teacher
  bool force = false;          // overwrite an existing output model (run_start records it as "overwrites")
  // Data-parallel (docs/runner.md): --nproc N starts ranks 1 … N−1 as copies
  // of this process; or torchrun's variables (RANK, WORLD_SIZE, MASTER_ADDR,
  // MASTER_PORT) make this process one rank of a world a launcher started.
  int nproc = 1;
  int rank_timeout_seconds = 120;  // a rank silent this long fails the run
};

struct RunSummary {
  std::string verdict;      // the gate's decision
  int exit_code = 0;        // 0 trained, 1 denied, 4 needs review
  bool trained = false;
  uint64_t decision_index = 0;
  std::string run_id;       // RunIdFor(job hash, decision_index): `report`, `attest`, `data prove` take it
  TrainResult result;
  uint64_t ledger_size = 0;
  int rank = 0, world = 1;  // this process's rank: only rank 0 decides, records and prints
  nlohmann::json ToJson() const;
};

StatusOr<RunSummary> RunJob(const RunOptions& options);

}  // namespace dg

#endif  // DISTILLGATE_TRAIN_RUN_H_
