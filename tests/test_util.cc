#include "test_util.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace dg::testing {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "dgtest-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Child Spawn(const std::vector<std::string>& argv, bool pipe_stdin, bool pipe_stderr) {
  int in[2] = {-1, -1}, out[2], err[2] = {-1, -1};
  if ((pipe_stdin && ::pipe(in)) || ::pipe(out) || (pipe_stderr && ::pipe(err))) throw std::runtime_error("pipe failed");
  pid_t pid = ::fork();
  if (pid == 0) {
    if (pipe_stdin) ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    if (pipe_stderr) ::dup2(err[1], 2);
    for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) {
      if (fd >= 0) ::close(fd);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  for (int fd : {in[0], out[1], err[1]}) {
    if (fd >= 0) ::close(fd);
  }
  return {pid, in[1], out[0], err[0]};
}

CommandResult Run(const std::vector<std::string>& argv, const std::string& input) {
  signal(SIGPIPE, SIG_IGN);
  Child child = Spawn(argv, true, true);
  return WaitForExit(child, input);
}

CommandResult WaitForExit(Child& child, const std::string& input) {
  const pid_t pid = child.pid;
  int in[2] = {-1, child.in}, out[2] = {child.out, -1}, err[2] = {child.err, -1};
  size_t written = 0;
  if (input.empty() && in[1] >= 0) {
    ::close(in[1]);
    in[1] = -1;
  }
  CommandResult r;
  pollfd fds[3] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {in[1], POLLOUT, 0}};
  int open_reads = (out[0] >= 0) + (err[0] >= 0);
  while (open_reads > 0) {
    int nfds = in[1] >= 0 ? 3 : 2;
    if (::poll(fds, static_cast<nfds_t>(nfds), -1) < 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP))) {
        char buf[8192];
        ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
        if (n <= 0) {
          ::close(fds[i].fd);
          fds[i].fd = -1;
          --open_reads;
        } else {
          (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
        }
      }
    }
    if (in[1] >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t n = (fds[2].revents & POLLOUT) ? ::write(in[1], input.data() + written, input.size() - written) : -1;
      if (n > 0) written += static_cast<size_t>(n);
      if (n <= 0 || written == input.size()) {
        ::close(in[1]);
        in[1] = -1;
        fds[2].fd = -1;
      }
    }
  }
  if (in[1] >= 0) ::close(in[1]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.signaled = WIFSIGNALED(status);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  child = Child{};
  return r;
}

std::string CliPath() { return DG_CLI_PATH; }

CommandResult RunCli(const std::vector<std::string>& args, const std::string& input) {
  std::vector<std::string> argv{CliPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  return Run(argv, input);
}

std::string SharedTestdata(const std::string& rel) {
  std::string p = std::string(DG_SOURCE_DIR) + "/../shared/testdata/" + rel;
  return std::filesystem::exists(p) ? p : std::string();
}

std::string SharedSchema(const std::string& rel) {
  std::string p = std::string(DG_SOURCE_DIR) + "/../shared/schemas/" + rel;
  return std::filesystem::exists(p) ? p : std::string();
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
}

}  // namespace dg::testing
