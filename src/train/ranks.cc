// Ranks of a data-parallel run over LibTorch c10d: a TCPStore hosted by rank
// 0 for the rendezvous and the permit, a Gloo process group for gradients,
// call digests and parameter hashes, and heartbeats that tell which rank
// went silent.
#include "train/ranks.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <torch/torch.h>

#ifdef DISTILLGATE_WITH_GLOO
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

#include "core/file_util.h"
#include "train/trainer.h"

extern char** environ;

namespace dg {
namespace {

StatusOr<int> EnvInt(const char* name, int fallback, bool* present) {
  const char* v = std::getenv(name);
  if (present) *present = v != nullptr && *v != '\0';
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  errno = 0;
  const long n = std::strtol(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0' || n < 0 || n > 65535) {
    return Status::InvalidInput(std::string("environment variable ") + name + "=" + v + ": expected a whole number from 0 to 65535");
  }
  return static_cast<int>(n);
}

std::string Signal(int sig) {
  const char* name = sigabbrev_np(sig);
  return "signal " + std::to_string(sig) + (name ? std::string(" (SIG") + name + ")" : "");
}

std::string DescribeEnd(int rank, int status) {
  if (WIFSIGNALED(status)) return "rank " + std::to_string(rank) + " was killed by " + Signal(WTERMSIG(status));
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
    return "rank " + std::to_string(rank) + " exited with status " + std::to_string(WEXITSTATUS(status));
  }
  return "";
}

}  // namespace

StatusOr<RankEnv> RankEnvFromEnvironment(int timeout_seconds) {
  RankEnv env;
  env.timeout_seconds = timeout_seconds;
  bool have_world = false, have_rank = false, have_port = false;
  DG_ASSIGN_OR_RETURN(env.world, EnvInt("WORLD_SIZE", 1, &have_world));
  DG_ASSIGN_OR_RETURN(env.rank, EnvInt("RANK", 0, &have_rank));
  DG_ASSIGN_OR_RETURN(env.local_rank, EnvInt("LOCAL_RANK", env.rank, nullptr));
  DG_ASSIGN_OR_RETURN(env.master_port, EnvInt("MASTER_PORT", 0, &have_port));
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) env.master_addr = a;
  if (!have_world || env.world == 1) {
    if (have_rank && env.rank != 0) return Status::InvalidInput("RANK=" + std::to_string(env.rank) + " without WORLD_SIZE above 1");
    env.world = 1;
    env.rank = 0;
    return env;
  }
  if (env.world < 1) return Status::InvalidInput("WORLD_SIZE must be at least 1");
  if (!have_rank) return Status::InvalidInput("WORLD_SIZE=" + std::to_string(env.world) + " without RANK");
  if (env.rank >= env.world) {
    return Status::InvalidInput("RANK=" + std::to_string(env.rank) + " is not below WORLD_SIZE=" + std::to_string(env.world));
  }
  if (!have_port || env.master_port == 0) return Status::InvalidInput("WORLD_SIZE above 1 needs MASTER_PORT (rank 0's store)");
  env.from_launcher = true;
  return env;
}

void ShareCores(const RankEnv& env) {
  UseAvailableCores();
  if (!env.distributed() || std::getenv("OMP_NUM_THREADS") != nullptr) return;
  cpu_set_t set;
  int cores = 0;
  if (sched_getaffinity(0, sizeof set, &set) == 0) cores = CPU_COUNT(&set);
  bool have_local = false;
  StatusOr<int> local = EnvInt("LOCAL_WORLD_SIZE", env.world, &have_local);
  const int ranks_here = local.ok() && *local > 0 ? *local : env.world;
  torch::set_num_threads(std::max(1, cores / ranks_here));
}

#ifdef DISTILLGATE_WITH_GLOO

bool HaveGloo() { return true; }

struct RankGroup::Impl {
  RankEnv env;
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  // Heartbeats: a second connection to the store, bumped every 200 ms.
  std::thread heartbeat;
  std::atomic<bool> stop{false};

  std::chrono::milliseconds timeout() const { return std::chrono::milliseconds(1000LL * env.timeout_seconds); }
};

RankGroup::RankGroup() : impl_(new Impl) {}

RankGroup::~RankGroup() {
  impl_->stop = true;
  if (impl_->heartbeat.joinable()) impl_->heartbeat.join();
}

StatusOr<std::unique_ptr<RankGroup>> RankGroup::Open(const RankEnv& env) {
  std::unique_ptr<RankGroup> g(new RankGroup);
  g->impl_->env = env;
  try {
    c10d::TCPStoreOptions o;
    o.port = static_cast<uint16_t>(env.master_port);
    o.isServer = env.rank == 0;
    o.numWorkers = c10::nullopt;
    o.waitWorkers = false;
    o.timeout = g->impl_->timeout();
    g->impl_->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, o);
    const int port = g->impl_->store->getPort();
    g->impl_->env.master_port = port;
    const std::string key = "distillgate/heartbeat/" + std::to_string(env.rank);
    g->impl_->heartbeat = std::thread([impl = g->impl_.get(), key, port] {
      try {
        c10d::TCPStoreOptions ho;
        ho.port = static_cast<uint16_t>(port);
        ho.isServer = false;
        ho.waitWorkers = false;
        ho.timeout = std::chrono::milliseconds(2000);
        auto s = c10::make_intrusive<c10d::TCPStore>(impl->env.master_addr, ho);
        while (!impl->stop) {
          s->add(key, 1);
          for (int i = 0; i < 4 && !impl->stop; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      } catch (const std::exception&) {
        // The store went away (rank 0 ended): nothing left to tell.
      }
    });
  } catch (const std::exception& e) {
    return Status::IoError("rank " + std::to_string(env.rank) + ": cannot " +
                           (env.rank == 0 ? "host" : "reach") + " the ranks' store at " + env.master_addr + ":" +
                           std::to_string(env.master_port) + ": " + std::string(e.what()).substr(0, 300));
  }
  return g;
}

int RankGroup::rank() const { return impl_->env.rank; }
int RankGroup::world() const { return impl_->env.world; }
int RankGroup::port() const { return impl_->env.master_port; }

Status RankGroup::Publish(const std::string& key, const std::string& value) {
  try {
    impl_->store->set("distillgate/" + key, std::vector<uint8_t>(value.begin(), value.end()));
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status::IoError("rank " + std::to_string(rank()) + ": the ranks' store: " + std::string(e.what()).substr(0, 300));
  }
}

StatusOr<std::string> RankGroup::Wait(const std::string& key, const std::function<std::string()>& give_up) {
  const std::string k = "distillgate/" + key;
  const int seconds = std::max(kJoinSeconds, impl_->env.timeout_seconds);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  for (;;) {
    try {
      impl_->store->wait({k}, std::chrono::milliseconds(1000));
      std::vector<uint8_t> v = impl_->store->get(k);
      return std::string(v.begin(), v.end());
    } catch (const std::exception& e) {
      const std::string what = e.what();
      const bool timed_out = what.find("imeout") != std::string::npos || what.find("imed out") != std::string::npos;
      if (!timed_out) {
        return Status::IoError("rank " + std::to_string(rank()) + ": the ranks' store, waiting for '" + key +
                               "': " + what.substr(0, 300));
      }
    }
    if (give_up) {
      if (std::string why = give_up(); !why.empty()) {
        return Status::IoError("rank " + std::to_string(rank()) + ": stopped waiting for '" + key + "': " + why);
      }
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return Status::IoError("rank " + std::to_string(rank()) + ": waited " + std::to_string(seconds) + " s for '" + key + "'");
    }
  }
}

Status RankGroup::ConnectCollectives() {
  try {
    auto opts = c10d::ProcessGroupGloo::Options::create(impl_->timeout());
    opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>("distillgate-gloo", impl_->store);
    impl_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, rank(), world(), opts);
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status::IoError("rank " + std::to_string(rank()) + ": the Gloo process group of " + std::to_string(world()) +
                           " ranks did not form: " + std::string(e.what()).substr(0, 300));
  }
}

void* RankGroup::process_group() { return impl_->pg.get(); }

namespace {

Status Collective(const char* what, int rank, const std::function<void()>& f) {
  try {
    f();
    return Status::Ok();
  } catch (const std::exception& e) {
    std::string m = e.what();
    if (const size_t nl = m.find("\nException raised from"); nl != std::string::npos) m.resize(nl);
    return Status::IoError("rank " + std::to_string(rank) + ": " + what + " failed: " + m.substr(0, 300));
  }
}

}  // namespace

Status RankGroup::AllGather(const std::string& mine, std::vector<std::string>* all) {
  return Collective("all-gather", rank(), [&] {
    torch::Tensor in = torch::from_blob(const_cast<char*>(mine.data()), {static_cast<int64_t>(mine.size())}, torch::kUInt8).clone();
    std::vector<std::vector<torch::Tensor>> out(1);
    for (int r = 0; r < world(); ++r) out[0].push_back(torch::empty_like(in));
    std::vector<torch::Tensor> ins{in};
    impl_->pg->allgather(out, ins)->wait();
    all->clear();
    for (const auto& t : out[0]) all->emplace_back(static_cast<const char*>(t.data_ptr()), mine.size());
  });
}

Status RankGroup::Broadcast(std::vector<at::Tensor>& tensors) {
  return Collective("broadcast", rank(), [&] {
    for (auto& t : tensors) {
      std::vector<torch::Tensor> one{t};
      impl_->pg->broadcast(one)->wait();
    }
  });
}

Status RankGroup::AllReduceMean(std::vector<at::Tensor>& tensors) {
  return Collective("all-reduce", rank(), [&] {
    for (auto& t : tensors) {
      std::vector<torch::Tensor> one{t};
      impl_->pg->allreduce(one)->wait();
      t.div_(world());
    }
  });
}

Status RankGroup::Meet(const std::string& name) {
  DG_RETURN_IF_ERROR(Publish(name + "/" + std::to_string(rank()), "here"));
  for (int r = 0; r < world(); ++r) {
    DG_RETURN_IF_ERROR(Wait(name + "/" + std::to_string(r)).status());
  }
  return Status::Ok();
}

std::string RankGroup::SilentRanks() {
  if (!impl_->store) return "";
  try {
    auto read = [this] {
      std::vector<int64_t> v;
      for (int r = 0; r < world(); ++r) v.push_back(impl_->store->add("distillgate/heartbeat/" + std::to_string(r), 0));
      return v;
    };
    const std::vector<int64_t> before = read();
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    const std::vector<int64_t> after = read();
    std::string out;
    for (int r = 0; r < world(); ++r) {
      if (after[r] == before[r]) out += std::string(out.empty() ? "" : ", ") + "rank " + std::to_string(r) + " (no heartbeat for 1.5 s)";
    }
    return out;
  } catch (const std::exception&) {
    return "";
  }
}

struct GradientReducer::Impl {
  RankGroup* group = nullptr;
  struct Bucket {
    std::vector<size_t> params;  // indices into `params`
    std::vector<int64_t> offsets;
    torch::Tensor flat;
    size_t pending = 0;
    bool launched = false;
    c10::intrusive_ptr<c10d::Work> work;
  };
  std::vector<torch::Tensor> params;
  std::vector<size_t> bucket_of;
  std::vector<Bucket> buckets;
  double waiting = 0;

  void Launch(Bucket& b) {
    b.launched = true;
    std::vector<torch::Tensor> one{b.flat};
    b.work = static_cast<c10d::ProcessGroup*>(group->process_group())->allreduce(one);
  }
};

GradientReducer::GradientReducer(RankGroup& group, const std::vector<at::Tensor>& parameters, size_t bucket_bytes)
    : impl_(new Impl) {
  impl_->group = &group;
  for (const auto& p : parameters) {
    if (p.requires_grad()) impl_->params.push_back(p);
  }
  impl_->bucket_of.assign(impl_->params.size(), 0);
  // Reverse order: backward produces the last layer's gradients first.
  size_t bytes = bucket_bytes;
  for (size_t k = impl_->params.size(); k-- > 0;) {
    const auto& p = impl_->params[k];
    const size_t nb = static_cast<size_t>(p.numel()) * p.element_size();
    if (impl_->buckets.empty() || bytes + nb > bucket_bytes) {
      impl_->buckets.emplace_back();
      bytes = 0;
    }
    auto& b = impl_->buckets.back();
    b.offsets.push_back(b.params.empty() ? 0 : b.offsets.back() + impl_->params[b.params.back()].numel());
    b.params.push_back(k);
    impl_->bucket_of[k] = impl_->buckets.size() - 1;
    bytes += nb;
  }
  for (auto& b : impl_->buckets) {
    const auto& last = impl_->params[b.params.back()];
    b.flat = torch::zeros({b.offsets.back() + last.numel()}, last.options().requires_grad(false));
  }
  for (size_t k = 0; k < impl_->params.size(); ++k) {
    Impl* impl = impl_.get();
    impl_->params[k].register_hook([impl, k](torch::Tensor grad) {
      Impl::Bucket& b = impl->buckets[impl->bucket_of[k]];
      const size_t slot = static_cast<size_t>(std::find(b.params.begin(), b.params.end(), k) - b.params.begin());
      b.flat.narrow(0, b.offsets[slot], grad.numel()).copy_(grad.detach().reshape({-1}));
      if (--b.pending == 0 && !b.launched) impl->Launch(b);
      return grad;
    });
  }
}

GradientReducer::~GradientReducer() = default;

void GradientReducer::Begin() {
  for (auto& b : impl_->buckets) {
    b.pending = b.params.size();
    b.launched = false;
    b.work.reset();
    b.flat.zero_();
  }
}

Status GradientReducer::Finish() {
  const auto t0 = std::chrono::steady_clock::now();
  Status st = Collective("gradient all-reduce", impl_->group->rank(), [this] {
    torch::NoGradGuard ng;
    for (auto& b : impl_->buckets) {
      if (!b.launched) impl_->Launch(b);  // a parameter without a gradient this step: its slot stays 0
    }
    const double world = impl_->group->world();
    for (auto& b : impl_->buckets) {
      b.work->wait();
      b.flat.div_(world);
      for (size_t s = 0; s < b.params.size(); ++s) {
        torch::Tensor& p = impl_->params[b.params[s]];
        torch::Tensor mean = b.flat.narrow(0, b.offsets[s], p.numel()).view_as(p);
        if (p.grad().defined()) {
          p.mutable_grad().copy_(mean);
        } else {
          p.mutable_grad() = mean.clone();
        }
      }
    }
  });
  impl_->waiting += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

size_t GradientReducer::buckets() const { return impl_->buckets.size(); }
double GradientReducer::seconds_waiting() const { return impl_->waiting; }

#else  // no Gloo in this build

bool HaveGloo() { return false; }
struct RankGroup::Impl {};
RankGroup::RankGroup() : impl_(new Impl) {}
RankGroup::~RankGroup() = default;
StatusOr<std::unique_ptr<RankGroup>> RankGroup::Open(const RankEnv&) {
  return Status::InvalidInput("this build of distillgate-train has no Gloo backend for more than one process "
                              "(install libgloo-dev and rebuild: scripts/setup.sh)");
}
int RankGroup::rank() const { return 0; }
int RankGroup::world() const { return 1; }
int RankGroup::port() const { return 0; }
Status RankGroup::Publish(const std::string&, const std::string&) { return Status::Internal("no Gloo"); }
StatusOr<std::string> RankGroup::Wait(const std::string&, const std::function<std::string()>&) { return Status::Internal("no Gloo"); }
Status RankGroup::ConnectCollectives() { return Status::Internal("no Gloo"); }
Status RankGroup::Meet(const std::string&) { return Status::Internal("no Gloo"); }
Status RankGroup::AllGather(const std::string&, std::vector<std::string>*) { return Status::Internal("no Gloo"); }
Status RankGroup::Broadcast(std::vector<at::Tensor>&) { return Status::Internal("no Gloo"); }
Status RankGroup::AllReduceMean(std::vector<at::Tensor>&) { return Status::Internal("no Gloo"); }
Status RankGroup::Meet(const std::string& name) {
  DG_RETURN_IF_ERROR(Publish(name + "/" + std::to_string(rank()), "here"));
  for (int r = 0; r < world(); ++r) {
    DG_RETURN_IF_ERROR(Wait(name + "/" + std::to_string(r)).status());
  }
  return Status::Ok();
}

std::string RankGroup::SilentRanks() { return ""; }
void* RankGroup::process_group() { return nullptr; }
struct GradientReducer::Impl {};
GradientReducer::GradientReducer(RankGroup&, const std::vector<at::Tensor>&, size_t) : impl_(new Impl) {}
GradientReducer::~GradientReducer() = default;
void GradientReducer::Begin() {}
Status GradientReducer::Finish() { return Status::Internal("no Gloo"); }
size_t GradientReducer::buckets() const { return 0; }
double GradientReducer::seconds_waiting() const { return 0; }

#endif

StatusOr<std::vector<pid_t>> SpawnRanks(const RankEnv& env, int port) {
  DG_ASSIGN_OR_RETURN(std::string cmdline, ReadFile("/proc/self/cmdline"));
  std::vector<std::string> args;
  for (size_t i = 0; i < cmdline.size();) {
    const size_t z = cmdline.find('\0', i);
    args.push_back(cmdline.substr(i, z == std::string::npos ? std::string::npos : z - i));
    if (z == std::string::npos) break;
    i = z + 1;
  }
  std::vector<std::string> base_env;
  for (char** e = environ; *e; ++e) {
    const std::string v = *e;
    const std::string name = v.substr(0, v.find('='));
    if (name == "RANK" || name == "WORLD_SIZE" || name == "LOCAL_RANK" || name == "MASTER_ADDR" || name == "MASTER_PORT") continue;
    base_env.push_back(v);
  }
  std::vector<pid_t> pids;
  const pid_t parent = ::getpid();
  for (int r = 1; r < env.world; ++r) {
    std::vector<std::string> child_env = base_env;
    child_env.push_back("RANK=" + std::to_string(r));
    child_env.push_back("LOCAL_RANK=" + std::to_string(r));
    child_env.push_back("WORLD_SIZE=" + std::to_string(env.world));
    child_env.push_back("MASTER_ADDR=127.0.0.1");
    child_env.push_back("MASTER_PORT=" + std::to_string(port));
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : child_env) envp.push_back(e.data());
    envp.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) {
      std::vector<pid_t> started = pids;
      ReapRanks(started, true);
      return Status::IoError(std::string("cannot start rank ") + std::to_string(r) + ": " + std::strerror(errno));
    }
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::execve("/proc/self/exe", argv.data(), envp.data());
      ::_exit(127);
    }
    pids.push_back(pid);
  }
  return pids;
}

std::string ReapRanks(std::vector<pid_t>& pids, bool kill_first) {
  std::string first;
  if (kill_first) {
    for (pid_t p : pids) {
      if (p > 0) ::kill(p, SIGTERM);
    }
  }
  for (size_t i = 0; i < pids.size(); ++i) {
    if (pids[i] <= 0) continue;
    int status = 0;
    if (kill_first) {
      // A rank blocked in a collective does not see SIGTERM's stop flag; it
      // holds nothing durable (rank 0 writes the ledger and the model), so
      // after 2 s it is killed.
      pid_t got = 0;
      for (int k = 0; k < 40 && (got = ::waitpid(pids[i], &status, WNOHANG)) == 0; ++k) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      if (got == 0) ::kill(pids[i], SIGKILL);
      if (got != 0) {
        pids[i] = -1;
        continue;
      }
    }
    while (::waitpid(pids[i], &status, 0) < 0 && errno == EINTR) {
    }
    const std::string end = DescribeEnd(static_cast<int>(i + 1), status);
    if (first.empty() && !kill_first) first = end;
    pids[i] = -1;
  }
  return first;
}

std::string EndedRanks(const std::vector<pid_t>& pids) {
  std::string out;
  for (size_t i = 0; i < pids.size(); ++i) {
    if (pids[i] <= 0) continue;
    siginfo_t info{};  // WNOWAIT: the rank stays to be reaped by ReapRanks
    if (::waitid(P_PID, static_cast<id_t>(pids[i]), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pids[i]) {
      std::string end;
      if (info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED) {
        end = "rank " + std::to_string(i + 1) + " was killed by " + Signal(info.si_status);
      } else if (info.si_status != 0) {
        end = "rank " + std::to_string(i + 1) + " exited with status " + std::to_string(info.si_status);
      }
      if (!end.empty()) out += (out.empty() ? "" : "; ") + end;
    }
  }
  return out;
}

}  // namespace dg
