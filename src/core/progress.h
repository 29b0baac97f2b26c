// Progress of a long command on the terminal: a bar with the count, the rate,
// the elapsed time and an estimate of the time left, on standard error, only
// when it is a terminal and the command was not asked to be quiet. Nothing is
// printed otherwise (logs and pipes stay clean).
//
// ProgressLine is a pure function; a ProgressBar is used from one thread.
#ifndef DISTILLGATE_CORE_PROGRESS_H_
#define DISTILLGATE_CORE_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <string>

namespace dg {

// "LABEL [#####     ] 120/469 batches · 412/s · 0:03 elapsed · ETA 0:01".
// `total` 0: no bar and no ETA ("LABEL 120 calls · 41/s · 0:03 elapsed").
std::string ProgressLine(const std::string& label, uint64_t done, uint64_t total, double elapsed_seconds, const std::string& unit);
// "0:07", "12:03", "1:02:03".
std::string Duration(double seconds);

class ProgressBar {
 public:
  // On when `enabled` and standard error is a terminal.
  ProgressBar(bool enabled, std::string unit);
  // Restarts the clock for a new stage (an epoch), with its own total.
  void Start(std::string label, uint64_t total);
  // Redraws at most ten times a second, and always at the end of the stage
  // (done == total), where the line is finished with a newline.
  void Update(uint64_t done);
  // Ends a stage without a total (a newline after the last line drawn).
  void Finish();
  bool on() const { return on_; }

 private:
  bool on_;
  std::string unit_, label_;
  uint64_t total_ = 0, done_ = 0;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace dg

#endif  // DISTILLGATE_CORE_PROGRESS_H_
