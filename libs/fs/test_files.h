// Helpers for the libs/fs tests: scratch directories under TEST_TMPDIR and
// one-line file creation. Each helper records a gtest failure (ADD_FAILURE)
// when a system call fails, naming the call and the path.
#ifndef ARCA_LIBS_FS_TEST_FILES_H_
#define ARCA_LIBS_FS_TEST_FILES_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace arca::fs::test {

// A new empty directory under $TEST_TMPDIR (or /tmp), unique per call.
std::string MakeScratchDir(absl::string_view name);

void WriteFile(const std::string& path, absl::string_view content, uint32_t mode = 0644);
std::string ReadFile(const std::string& path);
void MakeDir(const std::string& path, uint32_t mode = 0755);
void MakeSymlink(const std::string& target, const std::string& path);
// Sets atime and mtime (nanoseconds since the epoch) without following a
// symlink.
void SetTimesNs(const std::string& path, int64_t atime_ns, int64_t mtime_ns);
void SetXattr(const std::string& path, const std::string& name, absl::string_view value);

}  // namespace arca::fs::test

#endif  // ARCA_LIBS_FS_TEST_FILES_H_
