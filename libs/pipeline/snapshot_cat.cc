#include "libs/pipeline/snapshot_cat.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "libs/base/status_macros.h"
#include "libs/pipeline/snapshot_reader.h"

namespace arca {
namespace {

constexpr uint64_t kPieceBytes = 1 << 20;

// The entry at `path`, or NotFound. Stops reading once the stream has passed
// where `path` would be.
absl::StatusOr<v1::Entry> FindEntry(SnapshotReader& reader, const std::string& path) {
  v1::Entry e;
  while (true) {
    ASSIGN_OR_RETURN(bool more, reader.Next(&e));
    if (!more) break;
    int c = CompareArchiveOrder(e.path(), path);
    if (c == 0) return e;
    if (c > 0) break;
  }
  return absl::NotFoundError(absl::StrCat("snapshot ", reader.id(), " has no entry '", path,
                                          "': see `arca ls ", reader.id(), "` for its paths"));
}

std::string Describe(const v1::Entry& e) {
  switch (e.type()) {
    case v1::ENTRY_TYPE_DIRECTORY:
      return "a directory";
    case v1::ENTRY_TYPE_SYMLINK:
      return absl::StrCat("a symlink to '", e.symlink_target(), "'");
    case v1::ENTRY_TYPE_FIFO:
      return "a FIFO";
    case v1::ENTRY_TYPE_CHAR_DEVICE:
      return "a character device";
    case v1::ENTRY_TYPE_BLOCK_DEVICE:
      return "a block device";
    default:
      return absl::StrCat("an entry of type ", static_cast<int>(e.type()));
  }
}

absl::Status WriteZeros(uint64_t n, const std::function<absl::Status(absl::string_view)>& write) {
  static const std::string* const kZeros = new std::string(kPieceBytes, '\0');
  while (n > 0) {
    uint64_t k = std::min<uint64_t>(n, kPieceBytes);
    RETURN_IF_ERROR(write(absl::string_view(kZeros->data(), k)));
    n -= k;
  }
  return absl::OkStatus();
}

absl::Status WritePayload(SnapshotReader& reader, uint64_t offset, uint64_t length,
                          const std::function<absl::Status(absl::string_view)>& write) {
  std::string buf;
  while (length > 0) {
    uint64_t k = std::min<uint64_t>(length, kPieceBytes);
    buf.resize(k);
    RETURN_IF_ERROR(reader.ReadPayload(
        offset, std::span<uint8_t>(reinterpret_cast<uint8_t*>(buf.data()), buf.size())));
    RETURN_IF_ERROR(write(buf));
    offset += k;
    length -= k;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CatFile(Repository& repo, absl::string_view snapshot, absl::string_view path,
                     const std::function<absl::Status(absl::string_view)>& write) {
  absl::string_view p = path;
  while (absl::ConsumePrefix(&p, "/")) {
  }
  while (absl::ConsumeSuffix(&p, "/")) {
  }
  ASSIGN_OR_RETURN(std::unique_ptr<SnapshotReader> reader, SnapshotReader::Open(repo, snapshot));
  ASSIGN_OR_RETURN(v1::Entry e, FindEntry(*reader, std::string(p)));
  if (e.type() == v1::ENTRY_TYPE_HARDLINK) {
    // The content is stored once, with the first name, which is earlier in
    // archive order: read the stream again up to it.
    ASSIGN_OR_RETURN(reader, SnapshotReader::Open(repo, reader->id()));
    absl::StatusOr<v1::Entry> first = FindEntry(*reader, e.hardlink_target());
    if (!first.ok() || first->type() != v1::ENTRY_TYPE_REGULAR) {
      return absl::DataLossError(absl::StrCat(
          "'", e.path(), "' in snapshot ", reader->id(), " is a hardlink to '", e.hardlink_target(),
          "', which is not a regular file of the snapshot; the metadata is "
          "damaged (run arca verify)"));
    }
    e = *std::move(first);
  }
  if (e.type() != v1::ENTRY_TYPE_REGULAR) {
    return absl::FailedPreconditionError(absl::StrCat("'", e.path(), "' in snapshot ", reader->id(),
                                                      " is ", Describe(e),
                                                      ": arca cat prints regular files only"));
  }
  if (!e.sparse()) return WritePayload(*reader, e.payload().offset(), e.size(), write);
  uint64_t pos = 0;  // file offset written so far
  uint64_t payload = e.payload().offset();
  for (const v1::Extent& x : e.extents()) {
    if (x.offset() < pos || x.offset() > e.size() || x.length() > e.size() - x.offset()) {
      return absl::DataLossError(absl::StrCat("'", e.path(), "' in snapshot ", reader->id(),
                                              ": extents out of order or beyond the file size; "
                                              "the metadata is damaged (run arca verify)"));
    }
    RETURN_IF_ERROR(WriteZeros(x.offset() - pos, write));
    RETURN_IF_ERROR(WritePayload(*reader, payload, x.length(), write));
    payload += x.length();
    pos = x.offset() + x.length();
  }
  return WriteZeros(e.size() - pos, write);
}

}  // namespace arca
