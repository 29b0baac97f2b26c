#include "cli/trainer_exec.h"

#include <sys/wait.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "core/canonical_json.h"
#include "core/file_util.h"

namespace dg::cli {

std::string TrainerPath() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "distillgate-train";
  std::string self(buf, static_cast<size_t>(n));
  return self.substr(0, self.find_last_of('/') + 1) + "distillgate-train";
}

bool HaveTrainer() { return ::access(TrainerPath().c_str(), X_OK) == 0; }

Status ExecTrainer(int argc, char** argv) {
  const std::string path = TrainerPath();
  if (!HaveTrainer()) {
    return Status::IoError("this build has no trainer (" + path +
                           " is missing: LibTorch was not found when distillgate was built; see scripts/setup.sh)");
  }
  std::vector<char*> args(argv, argv + argc);
  args[0] = const_cast<char*>(path.c_str());
  args.push_back(nullptr);
  ::execv(path.c_str(), args.data());
  return Status::IoError(path + ": cannot run: " + std::strerror(errno));
}

StatusOr<SpawnedTrainer> SpawnTrainer(const std::vector<std::string>& args, bool die_with_parent) {
  if (!HaveTrainer()) return Status::IoError("this build has no trainer (" + TrainerPath() + " is missing)");
  int out[2];
  if (::pipe(out) != 0) return Status::IoError("pipe failed");
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out[0]);
    ::close(out[1]);
    return Status::IoError("fork failed");
  }
  if (pid == 0) {
    if (die_with_parent) ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    ::dup2(out[1], 1);
    ::close(out[0]);
    ::close(out[1]);
    std::string path = TrainerPath();
    std::vector<std::string> all = {path};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(path.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  return SpawnedTrainer{pid, out[0]};
}

StatusOr<TrainerRun> RunTrainer(const std::vector<std::string>& args) {
  std::vector<std::string> with_json = args;
  with_json.push_back("--json");
  DG_ASSIGN_OR_RETURN(SpawnedTrainer child, SpawnTrainer(with_json, false));
  const pid_t pid = child.pid;
  const int out_fd = child.stdout_fd;
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(out_fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  ::close(out_fd);
  int status = 0;
  ::waitpid(pid, &status, 0);
  TrainerRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  auto summary = ParseJsonStrict(text, "the trainer's summary");
  r.summary = summary.ok() ? std::move(summary).value() : nlohmann::json();
  return r;
}

}  // namespace dg::cli
