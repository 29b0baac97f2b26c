// Small file helpers with clear errors. Writers never leave a half-written file.
//
// Errors name the path: InvalidInput for a file that does not exist or is a
// directory, and for an exclusive write whose target exists; IoError with
// the system's reason otherwise. Atomicity: WriteFileAtomic leaves
// either the old file or the whole new one, never a mix, also on a crash.
// Safe on any thread (no shared state; concurrent writers of one path race
// as rename(2) does: the last one wins).
#ifndef DISTILLGATE_CORE_FILE_UTIL_H_
#define DISTILLGATE_CORE_FILE_UTIL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "core/status.h"

namespace dg {

// Reads a whole file; "-" reads standard input.
StatusOr<std::string> ReadFile(const std::string& path);

// Writes to "<path>.tmp-<pid>", fsyncs, then renames over `path`.
// With `exclusive`, fails if `path` already exists (and never replaces it).
Status WriteFileAtomic(const std::string& path, const std::string& data, mode_t mode, bool exclusive);

bool FileExists(const std::string& path);
// Writes all of `data` to the open descriptor `fd` (retrying short writes
// and EINTR); IoError naming `path` otherwise. On an O_APPEND descriptor a
// line written so is one write(2) unless the kernel writes it short.
Status WriteAllTo(int fd, std::string_view data, const std::string& path);
// The last component of a '/'-separated path, and everything before it ("." when none).
std::string BaseName(const std::string& path);
std::string DirName(const std::string& path);
// mkdir -p (mode 0755 for what it creates).
Status MakeDirectories(const std::string& dir);
StatusOr<uint64_t> FileSize(const std::string& path);

}  // namespace dg

#endif  // DISTILLGATE_CORE_FILE_UTIL_H_
