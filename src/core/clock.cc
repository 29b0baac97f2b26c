#include "core/clock.h"

#include <ctime>

namespace dg {

namespace {

std::string UtcNow(const char* strftime_format) {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, strftime_format, &tm);
  return std::string(buf, n);
}

}  // namespace

std::string NowRfc3339() { return UtcNow("%Y-%m-%dT%H:%M:%SZ"); }

std::string TodayUtc() { return UtcNow("%Y-%m-%d"); }

std::string Rfc3339Utc(int64_t unix_seconds) {
  if (unix_seconds >= 0 && unix_seconds <= 253402300799) {  // 1970 to 9999: by arithmetic, not strftime
    // Days to a civil date (H. Hinnant's algorithm, proleptic Gregorian).
    const int64_t days = unix_seconds / 86400, secs = unix_seconds % 86400;
    const int64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    const int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9, y = yoe + era * 400 + (m <= 2);
    std::string out = "0000-00-00T00:00:00Z";
    auto put = [&out](size_t at, int64_t v, int width) {
      for (int i = width - 1; i >= 0; --i, v /= 10) out[at + static_cast<size_t>(i)] = static_cast<char>('0' + v % 10);
    };
    put(0, y, 4);
    put(5, m, 2);
    put(8, d, 2);
    put(11, secs / 3600, 2);
    put(14, secs / 60 % 60, 2);
    put(17, secs % 60, 2);
    return out;
  }
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace dg
