#include "core/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace dg {

std::string Duration(double seconds) {
  if (!(seconds >= 0) || std::isinf(seconds)) seconds = 0;
  const uint64_t s = static_cast<uint64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%llu:%02llu:%02llu", static_cast<unsigned long long>(s / 3600),
                               static_cast<unsigned long long>(s / 60 % 60), static_cast<unsigned long long>(s % 60));
  else std::snprintf(buf, sizeof buf, "%llu:%02llu", static_cast<unsigned long long>(s / 60), static_cast<unsigned long long>(s % 60));
  return buf;
}

std::string ProgressLine(const std::string& label, uint64_t done, uint64_t total, double elapsed, const std::string& unit) {
  std::string line = label;
  if (total > 0) {
    const int width = 30;
    const int filled = static_cast<int>(width * std::min<uint64_t>(done, total) / total);
    line += " [" + std::string(filled, '#') + std::string(width - filled, ' ') + "] " + std::to_string(done) + "/" + std::to_string(total);
  } else {
    line += " " + std::to_string(done);
  }
  line += " " + unit;
  const double rate = elapsed > 0 ? done / elapsed : 0;
  char buf[64];
  if (rate >= 100) std::snprintf(buf, sizeof buf, "%.0f", rate);
  else std::snprintf(buf, sizeof buf, "%.1f", rate);
  line += " · " + std::string(buf) + "/s · " + Duration(elapsed) + " elapsed";
  if (total > 0 && done < total) line += " · ETA " + (rate > 0 ? Duration((total - done) / rate) : std::string("?"));
  return line;
}

ProgressBar::ProgressBar(bool enabled, std::string unit) : on_(enabled && isatty(2)), unit_(std::move(unit)) {}

void ProgressBar::Start(std::string label, uint64_t total) {
  if (drawn_) Finish();
  label_ = std::move(label);
  total_ = total;
  done_ = 0;
  start_ = last_ = std::chrono::steady_clock::now();
}

void ProgressBar::Update(uint64_t done) {
  if (!on_) return;
  done_ = done;
  const auto now = std::chrono::steady_clock::now();
  const bool end = total_ > 0 && done >= total_;
  if (!end && drawn_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  std::fprintf(stderr, "\r%s\033[K", ProgressLine(label_, done, total_, std::chrono::duration<double>(now - start_).count(), unit_).c_str());
  drawn_ = true;
  if (end) {
    std::fprintf(stderr, "\n");
    drawn_ = false;
  }
}

void ProgressBar::Finish() {
  if (on_ && drawn_) std::fprintf(stderr, "\n");
  drawn_ = false;
}

}  // namespace dg
