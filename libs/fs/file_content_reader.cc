#include "libs/fs/file_content_reader.h"

#include <sys/stat.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace arca::fs {
namespace {

// Files at least this large get a sequential-read hint (one extra syscall,
// worth it only when readahead has room to help).
constexpr uint64_t kSequentialHintBytes = 1 << 20;

}  // namespace

FileContentReader::FileContentReader(std::string abs_path, std::unique_ptr<RandomAccessFile> file,
                                     const StatInfo& opened)
    : abs_path_(std::move(abs_path)), file_(std::move(file)), opened_(opened) {}

absl::StatusOr<std::unique_ptr<FileContentReader>> FileContentReader::Open(
    FileSystem* fs, const std::string& abs_path, const v1::Entry& listed) {
  if (listed.type() != v1::ENTRY_TYPE_REGULAR) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read the content of ", abs_path, ": its entry has type ",
                     v1::EntryType_Name(listed.type()), ", not ENTRY_TYPE_REGULAR"));
  }
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> file = fs->OpenForRead(abs_path);
  if (!file.ok()) {
    if (absl::IsFailedPrecondition(file.status())) {
      // E.g. replaced by a symlink since it was listed.
      return absl::FailedPreconditionError(absl::StrCat(
          abs_path, " changed between listing and reading (", file.status().message(), ")"));
    }
    return file.status();
  }
  absl::StatusOr<StatInfo> st = (*file)->Stat();
  if (!st.ok()) return st.status();

  std::string changed;
  if (!S_ISREG(st->mode)) {
    changed = "no longer a regular file";
  } else if (st->dev != listed.dev() || st->ino != listed.ino()) {
    changed = "replaced by another file";
  } else if (st->size != listed.size()) {
    changed = absl::StrCat("size ", listed.size(), " -> ", st->size);
  } else if (st->mtime_ns != listed.mtime_ns()) {
    changed = absl::StrCat("mtime ", listed.mtime_ns(), " -> ", st->mtime_ns);
  }
  if (!changed.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(abs_path, " changed between listing and reading (", changed, ")"));
  }

  std::unique_ptr<FileContentReader> reader(new FileContentReader(abs_path, *std::move(file), *st));
  const uint64_t size = st->size;
  if (size > 0) {
    bool dense = true;
    if (st->blocks * 512 < size) {
      absl::StatusOr<std::vector<v1::Extent>> extents = reader->file_->DataExtents(size);
      if (!extents.ok()) return extents.status();
      dense = extents->size() == 1 && (*extents)[0].offset() == 0 && (*extents)[0].length() == size;
      if (!dense) {
        reader->extents_ = *std::move(extents);
        reader->sparse_ = true;
      }
    }
    if (dense) {
      v1::Extent& e = reader->extents_.emplace_back();
      e.set_offset(0);
      e.set_length(size);
    }
    for (const v1::Extent& e : reader->extents_) {
      reader->data_length_ += e.length();
    }
    if (reader->data_length_ >= kSequentialHintBytes) {
      reader->file_->HintSequential();
    }
  }
  return reader;
}

absl::Status FileContentReader::ChangedWhileRead(absl::string_view detail) const {
  return absl::FailedPreconditionError(
      absl::StrCat(abs_path_, " changed while being read (", detail, ")"));
}

absl::StatusOr<size_t> FileContentReader::Read(std::span<uint8_t> buf) {
  size_t done = 0;
  while (done < buf.size() && extent_index_ < extents_.size()) {
    const v1::Extent& extent = extents_[extent_index_];
    const uint64_t left = extent.length() - extent_position_;
    const size_t want = static_cast<size_t>(std::min<uint64_t>(left, buf.size() - done));
    const uint64_t offset = extent.offset() + extent_position_;
    absl::StatusOr<size_t> n = file_->ReadAt(offset, buf.subspan(done, want));
    if (!n.ok()) return n.status();
    if (*n < want) {
      return ChangedWhileRead(
          absl::StrCat("it ends at byte ", offset + *n, ", listed size ", opened_.size));
    }
    done += want;
    extent_position_ += want;
    if (extent_position_ == extent.length()) {
      ++extent_index_;
      extent_position_ = 0;
    }
  }
  return done;
}

absl::Status FileContentReader::CheckUnchanged() {
  absl::StatusOr<StatInfo> st = file_->Stat();
  if (!st.ok()) return st.status();
  if (st->size != opened_.size) {
    return ChangedWhileRead(absl::StrCat("size ", opened_.size, " -> ", st->size));
  }
  if (st->mtime_ns != opened_.mtime_ns) {
    return ChangedWhileRead(absl::StrCat("mtime ", opened_.mtime_ns, " -> ", st->mtime_ns));
  }
  if (st->ctime_ns != opened_.ctime_ns) {
    return ChangedWhileRead(absl::StrCat("ctime ", opened_.ctime_ns, " -> ", st->ctime_ns));
  }
  return absl::OkStatus();
}

}  // namespace arca::fs
