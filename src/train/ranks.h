// One process's place in a data-parallel run (docs/runner.md, "More than one
// process"): the rank, the world, and the LibTorch c10d group the ranks meet
// in — a TCPStore hosted by rank 0 and a Gloo process group over it. This
// header stays free of LibTorch (tensors are only forward-declared); only
// src/train/*.cc include torch.
//
// Errors: every call that talks to other ranks returns IoError when a rank
// stopped answering (a closed connection, or nothing within the group's
// timeout), and InvalidInput for a malformed environment.
// Nothing here writes to the ledger: rank 0 is its only writer.
// Thread safety: one thread per RankGroup (its heartbeat runs on its own
// thread and connection).
#ifndef DISTILLGATE_TRAIN_RANKS_H_
#define DISTILLGATE_TRAIN_RANKS_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace at {
class Tensor;
}

namespace dg {

struct RankEnv {
  int rank = 0;
  int world = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;         // 0 on rank 0: any free port (--nproc publishes the one chosen)
  int timeout_seconds = 120;   // a rank silent this long is taken for dead
  bool from_launcher = false;  // RANK / WORLD_SIZE came from the environment (torchrun's variables)
  bool distributed() const { return world > 1; }
};

// The variables torchrun sets: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT. Without WORLD_SIZE (or with 1): one process, from_launcher
// false. InvalidInput when they are malformed or inconsistent (RANK outside
// [0, WORLD_SIZE), no MASTER_PORT for a world above 1).
StatusOr<RankEnv> RankEnvFromEnvironment(int timeout_seconds);

// Gives this rank its share of the cores: the cores this process may use
// divided by the ranks on this host (LOCAL_WORLD_SIZE, else the world), at
// least 1 — unless OMP_NUM_THREADS chose a number. Ranks that each took every
// core would spin against each other (bench/RESULTS.md, data-parallel).
void ShareCores(const RankEnv& env);

// Whether this build has the Gloo backend (Debian: libgloo-dev at build time).
bool HaveGloo();

class RankGroup {
 public:
  // Rank 0 hosts the store (on env.master_port; 0 picks a free one, see
  // port()); the others connect to it. The process group is made by
  // ConnectCollectives(), after the permit has been handed over.
  static StatusOr<std::unique_ptr<RankGroup>> Open(const RankEnv& env);
  ~RankGroup();
  RankGroup(const RankGroup&) = delete;
  RankGroup& operator=(const RankGroup&) = delete;

  int rank() const;
  int world() const;
  int port() const;  // the store's port

  // The store: Publish sets a key; Wait blocks until it is set. Keys are
  // namespaced under "distillgate/". Ranks may take a while to start (LibTorch,
  // reading and hashing the data), so Wait allows kJoinSeconds or the
  // timeout, whichever is longer; every second it asks `give_up` (when set),
  // whose non-empty answer ends the wait with IoError (a spawned rank that
  // died, a stop request).
  static constexpr int kJoinSeconds = 300;
  Status Publish(const std::string& key, const std::string& value);
  StatusOr<std::string> Wait(const std::string& key, const std::function<std::string()>& give_up = nullptr);

  // The Gloo process group over the store (every rank calls it once).
  Status ConnectCollectives();
  // Collectives: every rank calls them in the same order.
  // Each rank's `mine` (all of one size) to every rank, in rank order.
  Status AllGather(const std::string& mine, std::vector<std::string>* all);
  // Waits, as patiently as a join, until every rank has reached `name`
  // (through the store): before the first collective, while ranks may
  // still be loading their teacher.
  Status Meet(const std::string& name);
  // Rank 0's tensors to every rank (in place).
  Status Broadcast(std::vector<at::Tensor>& tensors);
  // The mean over ranks, in place; one all-reduce per bucket (see Reducer).
  Status AllReduceMean(std::vector<at::Tensor>& tensors);

  // After a failed collective: which ranks stopped sending heartbeats, as
  // text ("rank 1 (no heartbeat for 2.0 s)"); "" when every rank is alive.
  std::string SilentRanks();

  // For src/train's reducer: the c10d process group (a
  // c10d::ProcessGroup*), valid once ConnectCollectives() succeeded.
  void* process_group();

 private:
  RankGroup();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Averages gradients across the ranks the way PyTorch's DDP does: the
// parameters are cut into buckets of about `bucket_bytes`, in reverse order
// (the order backward produces their gradients); a hook on each parameter
// copies its gradient into its bucket, and a full bucket's all-reduce starts
// at once, while backward goes on. Finish() waits for them and writes the
// means into the parameters' .grad. Usage per step: Begin(); loss.backward();
// Finish(). The parameters must outlive the reducer; one step at a time.
class GradientReducer {
 public:
  GradientReducer(RankGroup& group, const std::vector<at::Tensor>& parameters, size_t bucket_bytes);
  ~GradientReducer();
  void Begin();
  Status Finish();
  size_t buckets() const;
  double seconds_waiting() const;  // time Finish() spent waiting for all-reduces

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// `--nproc N` on rank 0: starts ranks 1 … N−1 as copies of this process
// (same executable and arguments) with torchrun's variables set and
// PR_SET_PDEATHSIG, so none outlives rank 0. IoError when one cannot start.
StatusOr<std::vector<pid_t>> SpawnRanks(const RankEnv& env, int port);
// Waits for the spawned ranks; the first abnormal end, as text ("" when all
// exited 0). `kill_first` sends them SIGTERM first (a failed run).
std::string ReapRanks(std::vector<pid_t>& pids, bool kill_first);
// A spawned rank that has already ended abnormally ("rank 1 was killed by
// signal 9"), without waiting; "" when none has.
std::string EndedRanks(const std::vector<pid_t>& pids);

}  // namespace dg

#endif  // DISTILLGATE_TRAIN_RANKS_H_
