// Reads one regular file's data for the payload stream: only its data
// regions (holes of a sparse file are skipped), in offset order, and
// detects a file that changed between listing and reading or while being
// read, so that a torn file is never stored silently.
#ifndef ARCA_LIBS_FS_FILE_CONTENT_READER_H_
#define ARCA_LIBS_FS_FILE_CONTENT_READER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "arca/v1/common.pb.h"
#include "libs/fs/file_system.h"

namespace arca::fs {

// Not thread-safe. Holds the file open until destroyed.
class FileContentReader {
 public:
  // Opens `abs_path` through `fs` (not owned; must outlive the reader) and
  // checks that it is still the file the walker listed in `listed` (an
  // ENTRY_TYPE_REGULAR entry): same dev, ino, type, size and mtime_ns.
  // Errors:
  //   NotFound when the file vanished (message names the path);
  //   FailedPrecondition "<abs_path> changed between listing and reading
  //     (...)" when it differs;
  //   InvalidArgument when `listed` is not a regular-file entry;
  //   other OpenForRead / fstat errors as they come (e.g. PermissionDenied).
  // A file counts as sparse when it occupies less space than its size
  // (blocks*512 < size) and DataExtents then reports holes.
  static absl::StatusOr<std::unique_ptr<FileContentReader>> Open(FileSystem* fs,
                                                                 const std::string& abs_path,
                                                                 const v1::Entry& listed);

  // The data regions: one {0, size} when the file is dense; empty when the
  // size is 0 or the file is all hole.
  const std::vector<v1::Extent>& extents() const { return extents_; }
  // Whether the file has holes (then extents() is what the entry stores).
  bool sparse() const { return sparse_; }
  // Sum of the extents' lengths: the number of bytes Read delivers.
  uint64_t data_length() const { return data_length_; }

  // Fills `buf` with the next bytes of the data regions (holes skipped,
  // regions concatenated); returns the number of bytes, fewer than
  // buf.size() only at the end, 0 at the end. FailedPrecondition
  // "<abs_path> changed while being read" when the file got shorter than
  // listed; read errors (e.g. Unavailable for EIO) name the path and offset.
  absl::StatusOr<size_t> Read(std::span<uint8_t> buf);

  // Call after the last Read: fstat again; FailedPrecondition "<abs_path>
  // changed while being read (...)" when size, mtime or ctime differ from
  // when the file was opened.
  absl::Status CheckUnchanged();

 private:
  FileContentReader(std::string abs_path, std::unique_ptr<RandomAccessFile> file,
                    const StatInfo& opened);

  absl::Status ChangedWhileRead(absl::string_view detail) const;

  const std::string abs_path_;
  const std::unique_ptr<RandomAccessFile> file_;
  const StatInfo opened_;  // fstat at Open
  std::vector<v1::Extent> extents_;
  bool sparse_ = false;
  uint64_t data_length_ = 0;
  size_t extent_index_ = 0;       // extent being read
  uint64_t extent_position_ = 0;  // bytes of it already delivered
};

}  // namespace arca::fs

#endif  // ARCA_LIBS_FS_FILE_CONTENT_READER_H_
