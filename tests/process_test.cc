// Crash safety and concurrency with real processes: an appender killed with
// SIGKILL at random moments, and several appenders writing at once.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "ledger_fixture.h"

namespace dg {
namespace {

using testing::Child;

Child Spawn(const std::vector<std::string>& argv) { return testing::Spawn(argv, false, false); }

std::string Drain(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

// Size of the last "committed <size> <batch>" line, or `fallback`.
uint64_t LastAcknowledged(const std::string& out, uint64_t fallback) {
  std::istringstream in(out);
  std::string word;
  uint64_t size = fallback, batch;
  while (in >> word >> size >> batch) {
  }
  return size;
}

class ProcessTest : public testing::LedgerTest {
 protected:
  void SetUp() override {
    LedgerTest::SetUp();
    key_path_ = dir_.File("ledger.key");
    ASSERT_TRUE(key_.SavePemFile(key_path_).ok());
    ledger_.reset();  // the children own the writes
  }
  std::vector<std::string> StressArgs(int writer, int batches, int per_batch, int payload) {
    return {DG_STRESS_PATH,         path_,
            key_path_,              std::to_string(writer),
            std::to_string(batches), std::to_string(per_batch),
            std::to_string(payload)};
  }
  std::string key_path_;
};

TEST_F(ProcessTest, KillNineAtRandomMomentsLeavesAPrefixOfCommittedBatches) {
  constexpr int kTrials = 24, kPerBatch = 40;
  std::mt19937 rng(7);
  uint64_t size = 0;
  int killed_mid_run = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    Child c = Spawn(StressArgs(trial, 100000, kPerBatch, 300));
    ASSERT_GT(c.pid, 0);
    // A crash while the writer is writing: after its first committed batch
    // (on a loaded machine the first may take longer than any fixed delay),
    // then at a random moment.
    std::string first;
    char ch;
    while (::read(c.out, &ch, 1) == 1) {
      first.push_back(ch);
      if (ch == '\n') break;
    }
    ASSERT_NE(first.find("committed"), std::string::npos) << "trial " << trial << ": the writer committed nothing";
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 60000));
    ::kill(c.pid, SIGKILL);
    const std::string out = first + Drain(c.out);
    int status = 0;
    ::waitpid(c.pid, &status, 0);
    if (WIFSIGNALED(status)) ++killed_mid_run;
    const uint64_t acked = LastAcknowledged(out, size);

    auto l = Ledger::Open(path_, Ledger::Mode::kReadOnly);
    ASSERT_TRUE(l.ok()) << "trial " << trial << ": " << l.status().ToString();
    auto report = Fsck(**l, verifier_, {});
    ASSERT_TRUE(report.ok());
    ASSERT_EQ(report->problem_count, 0u) << "trial " << trial << ": " << FsckStatus(*report).ToString();
    const uint64_t now = report->tree_size;
    // Everything acknowledged survived; at most one more batch committed
    // before the kill landed; nothing partial.
    ASSERT_GE(now, acked) << "trial " << trial;
    ASSERT_LE(now, acked + kPerBatch) << "trial " << trial;
    ASSERT_EQ((now - size) % kPerBatch, 0u) << "trial " << trial << ": a partial batch is visible";
    for (uint64_t i = size; i < now; ++i) {
      auto leaf = (*l)->GetLeaf(i);
      ASSERT_TRUE(leaf.ok());
      auto j = nlohmann::json::parse(leaf->data)["body"];
      ASSERT_EQ(j["w"], trial);
      ASSERT_EQ(j["b"], (i - size) / kPerBatch);
      ASSERT_EQ(j["i"], (i - size) % kPerBatch);
    }
    size = now;
  }
  EXPECT_GE(killed_mid_run, kTrials - 2);
  EXPECT_GT(size, 0u);
  std::cout << "[ crash ] " << kTrials << " kill -9 trials, ledger ends at " << size << " entries\n";
}

TEST_F(ProcessTest, ConcurrentAppendersLoseNothing) {
  constexpr int kWriters = 4, kBatches = 25, kPerBatch = 5;
  std::vector<Child> children;
  for (int w = 0; w < kWriters; ++w) children.push_back(Spawn(StressArgs(w, kBatches, kPerBatch, 50)));
  for (auto& c : children) {
    Drain(c.out);
    int status = 0;
    ::waitpid(c.pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "writer failed with status " << status;
  }
  auto l = Ledger::Open(path_, Ledger::Mode::kReadOnly);
  ASSERT_TRUE(l.ok());
  auto report = Fsck(**l, verifier_, {});
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->problem_count, 0u) << FsckStatus(*report).ToString();
  ASSERT_EQ(report->tree_size, uint64_t{kWriters * kBatches * kPerBatch});
  EXPECT_EQ(report->checkpoints_checked, uint64_t{kWriters * kBatches + 1});
  // Each writer's entries appear exactly once, in its own order, batches unbroken.
  std::map<int, int> next;  // writer → next expected sequence number
  for (uint64_t i = 0; i < report->tree_size; ++i) {
    auto j = nlohmann::json::parse((*l)->GetLeaf(i)->data)["body"];
    const int w = j["w"], seq = j["b"].get<int>() * kPerBatch + j["i"].get<int>();
    ASSERT_EQ(seq, next[w]) << "entry " << i;
    ++next[w];
    if (j["i"] != 0) {
      auto prev = nlohmann::json::parse((*l)->GetLeaf(i - 1)->data)["body"];
      ASSERT_EQ(prev["w"], w) << "batch of writer " << w << " interleaved at " << i;
    }
  }
  for (int w = 0; w < kWriters; ++w) EXPECT_EQ(next[w], kBatches * kPerBatch);
}

}  // namespace
}  // namespace dg
