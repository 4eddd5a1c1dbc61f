// The metadata stream of a snapshot (DESIGN.md §3): every entry of a source
// tree (path and all metadata, as a v1::Entry), in archive order, framed into
// CRC-checked records. Regular files point into the payload stream with their
// PayloadRef. The byte format is docs/formats/metadata-stream.md.
//
// Archive order: depth-first pre-order with the children of a directory
// sorted bytewise by name, i.e. paths compared as lists of '/'-separated
// components. The root ("") comes first, a directory before its children,
// and "a/b" before "a-b" (component "a" < "a-b").
#ifndef ARCA_LIBS_ARCHIVE_METADATA_STREAM_H_
#define ARCA_LIBS_ARCHIVE_METADATA_STREAM_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "arca/v1/common.pb.h"

namespace arca {

// Format constants (docs/formats/metadata-stream.md). Never change them.
inline constexpr std::string_view kMetadataStreamMagic = "ARCAMETA";
inline constexpr uint32_t kMetadataStreamVersion = 1;
inline constexpr size_t kMetadataStreamHeaderSize = 16;
inline constexpr size_t kMetadataRecordPrefixSize = 8;
inline constexpr uint32_t kMaxMetadataRecordLength = 16u << 20;  // 16 MiB
inline constexpr uint32_t kMetadataTrailerMarker = 0xFFFFFFFFu;
inline constexpr size_t kMetadataStreamTrailerSize = 24;

// Compares two valid entry paths (see ValidateEntry) in archive order:
// component lists compared lexicographically, components bytewise (as
// unsigned bytes). Returns <0, 0 or >0. "" (the root) is before every other
// path; "a" < "a/b" < "a-b" < "b". Thread-safe.
int CompareArchiveOrder(std::string_view a, std::string_view b);

// Structural validation of an entry as stored in a metadata stream. OK, or
// InvalidArgument `entry "<path, C-escaped>": <problem>` when:
// - the path is not relative and '/'-separated: leading or trailing '/',
//   an empty, "." or ".." component, a NUL byte ("" is allowed: the root);
// - the type is unspecified, unknown or SOCKET (sockets are never stored);
// - mode has bits outside 07777;
// - HARDLINK: hardlink_target is not a valid non-empty path, or is not
//   before the entry's own path in archive order (it names an earlier entry);
//   hardlink_target set on any other type;
// - SYMLINK: symlink_target empty or containing NUL; symlink_target set on
//   any other type;
// - REGULAR, not sparse: extents present, or payload.length != size;
// - REGULAR, sparse: an extent is empty, extents unsorted or overlapping, an
//   extent ends beyond size, or the extent lengths do not sum to
//   payload.length;
// - any other type: a payload, extents or the sparse flag;
// - payload.offset + payload.length overflows;
// - acl_default on a non-directory;
// - xattrs not strictly sorted by name, or an xattr name empty or with NUL.
// Thread-safe.
absl::Status ValidateEntry(const v1::Entry& entry);

// Encodes a metadata stream. The encoded bytes are appended to the caller's
// string (which the caller feeds to the chunker and may clear at any time).
// Use: WriteHeader once, Append each entry in archive order, WriteTrailer
// once. Memory: the last path only. Not thread-safe.
class MetadataStreamWriter {
 public:
  MetadataStreamWriter() = default;
  MetadataStreamWriter(const MetadataStreamWriter&) = delete;
  MetadataStreamWriter& operator=(const MetadataStreamWriter&) = delete;

  // Appends the 16-byte header. Must be called exactly once, first
  // (a second call aborts the process: a programming error).
  void WriteHeader(std::string* out);

  // Appends one record holding `entry`. Nothing is appended on error:
  // - InvalidArgument from ValidateEntry;
  // - InvalidArgument `entry "<path>" is not after "<previous>" in archive
  //   order` when the entry does not strictly follow the previous one;
  // - InvalidArgument when the serialized entry exceeds 16 MiB;
  // - FailedPrecondition before WriteHeader or after WriteTrailer.
  absl::Status Append(const v1::Entry& entry, std::string* out);

  // Appends the 24-byte trailer (entry count and stream check) after the
  // last entry. Must be called exactly once, after WriteHeader (otherwise
  // aborts: a programming error).
  void WriteTrailer(std::string* out);

  // Entries appended so far.
  uint64_t entries() const { return entries_; }
  // Bytes appended so far, header and trailer included.
  uint64_t bytes_written() const { return bytes_written_; }

 private:
  enum class State { kNew, kEntries, kDone };
  State state_ = State::kNew;
  uint64_t entries_ = 0;
  uint64_t bytes_written_ = 0;
  uint32_t stream_check_ = 0;  // CRC32C of the header and record prefixes
  std::string last_path_;
};

// Pull interface over the bytes of a stream.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to buf.size() bytes into buf and returns how many were read;
  // 0 only at the end of the stream (or for an empty buf). Errors are the
  // implementation's (e.g. DataLoss for a corrupt chunk).
  virtual absl::StatusOr<size_t> Read(std::span<uint8_t> buf) = 0;
};

// A ByteSource over bytes in memory. `data` must outlive it. Not thread-safe.
class StringByteSource final : public ByteSource {
 public:
  explicit StringByteSource(std::string_view data) : data_(data) {}
  absl::StatusOr<size_t> Read(std::span<uint8_t> buf) override;

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

// Decodes a metadata stream from a ByteSource, one record at a time: memory
// is bounded by the largest record (at most 16 MiB) plus a 64 KiB read
// buffer. Every record's CRC, the archive order of the paths, each entry's
// validity (ValidateEntry), the trailer's entry count and stream check, and
// the absence of bytes after the trailer are verified. Not thread-safe;
// `source` must outlive the reader.
class MetadataStreamReader {
 public:
  explicit MetadataStreamReader(ByteSource* source);
  MetadataStreamReader(const MetadataStreamReader&) = delete;
  MetadataStreamReader& operator=(const MetadataStreamReader&) = delete;

  // Decodes the next entry into *entry (cleared first) and returns true;
  // returns false once the trailer has been read and verified (and on every
  // later call). On error *entry is unspecified.
  // Errors (sticky: every later call returns the same status):
  // - DataLoss "metadata stream: <what> at byte <offset>" for an empty or
  //   truncated stream, bad magic, version 0, unknown flags, a zero or
  //   oversized record length, a record CRC mismatch, an unparsable Entry,
  //   an entry that fails ValidateEntry, an entry out of archive order, a
  //   missing or corrupt trailer, an entry count or stream check mismatch,
  //   bytes after the trailer. <offset> is where the bad structure starts.
  // - FailedPrecondition "metadata stream version N is newer than this arca
  //   supports (1): upgrade arca".
  // - The source's own errors, with their code, prefixed with the offset.
  absl::StatusOr<bool> Next(v1::Entry* entry);

  // Bytes of the stream consumed so far (header, records, trailer).
  uint64_t offset() const { return offset_; }
  // Entries returned so far.
  uint64_t entries() const { return entries_; }

 private:
  // Makes at least n bytes available in buf_ from buf_pos_; false at the end
  // of the stream with fewer (available() tells how many).
  absl::StatusOr<bool> Fill(size_t n);
  size_t available() const { return buf_end_ - buf_pos_; }
  const uint8_t* data() const { return buf_.data() + buf_pos_; }
  void Consume(size_t n) {
    buf_pos_ += n;
    offset_ += n;
  }
  absl::Status Fail(absl::Status status);
  absl::Status Corrupt(std::string_view what, uint64_t at);
  absl::Status ReadHeader();
  absl::Status ReadTrailer();

  ByteSource* source_;
  std::vector<uint8_t> buf_;
  size_t buf_pos_ = 0;
  size_t buf_end_ = 0;
  bool source_done_ = false;
  uint64_t offset_ = 0;
  uint64_t entries_ = 0;
  uint32_t stream_check_ = 0;
  bool header_done_ = false;
  bool finished_ = false;
  absl::Status error_;
  std::string last_path_;
};

}  // namespace arca

#endif  // ARCA_LIBS_ARCHIVE_METADATA_STREAM_H_
