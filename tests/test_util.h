// Helpers shared by the test programs: temporary directories, running the
// CLI as a child process, and locating ../shared test corpora.
#ifndef DISTILLGATE_TESTS_TEST_UTIL_H_
#define DISTILLGATE_TESTS_TEST_UTIL_H_

#include <string>
#include <vector>

namespace dg::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;  // 128+signal when killed
  bool signaled = false;  // killed by a signal (not exited with its own code)
  std::string out, err;
};

// Starts argv[0] with arguments; the child's stdin/stdout/stderr are pipes
// whose parent ends are returned (-1 where not requested).
struct Child {
  int pid = -1;
  int in = -1, out = -1, err = -1;
};
Child Spawn(const std::vector<std::string>& argv, bool pipe_stdin, bool pipe_stderr);

// Reads what a spawned child writes on its piped stdout/stderr (feeding
// `input` on its piped stdin, if any) until it exits, and reaps it.
CommandResult WaitForExit(Child& child, const std::string& input = "");
// Runs argv[0] with arguments, feeding `input` on stdin; waits for it.
CommandResult Run(const std::vector<std::string>& argv, const std::string& input = "");
// Runs the distillgate binary built alongside the tests.
CommandResult RunCli(const std::vector<std::string>& args, const std::string& input = "");
std::string CliPath();

// `../shared/testdata/<rel>` beside the source tree, or "" when absent.
std::string SharedTestdata(const std::string& rel);
// ../shared/schemas/<rel> (official CycloneDX and SARIF schemas), or "" when absent.
std::string SharedSchema(const std::string& rel);

std::string ReadAll(const std::string& path);
void WriteAll(const std::string& path, const std::string& data);

}  // namespace dg::testing

#endif  // DISTILLGATE_TESTS_TEST_UTIL_H_
