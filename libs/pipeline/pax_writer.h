// POSIX pax (ustar + 'x' extended headers) encoding of snapshot entries, the
// archive format of `arca export`. Pure logic: bytes in, bytes out.
//
// What each entry becomes (the metadata GNU tar keeps and restores):
// - ustar header: name, mode & 07777, uid, gid, size, mtime seconds, type
//   ('0' file, '1' hardlink to the first name, '2' symlink, '3'/'4' char /
//   block device with devmajor/devminor, '5' directory, '6' fifo);
// - a pax 'x' header before it when needed: path / linkpath (longer than the
//   ustar fields, or not ASCII), uid / gid / size beyond the octal fields,
//   mtime and atime with nanoseconds ("SECONDS.NANOS"),
//   SCHILY.xattr.NAME per xattr, SCHILY.acl.access / SCHILY.acl.default in
//   the text form GNU tar reads ("user::rw-,user:1000:r--,group::r--,...").
//   No uname / gname: snapshots store numeric ids only.
// - sparse regular files in GNU sparse format 1.0 (GNU.sparse.major=1,
//   minor=0, name, realsize): the member data is the sparse map (decimal
//   lines, padded to a block) followed by the data regions; a file ending in a
//   hole gets a final zero-length region at its size, so that GNU tar extends
//   the file to it.
// The root directory ("" in a snapshot) is named "./".
//
// Thread-safety: pure functions.
#ifndef ARCA_LIBS_PIPELINE_PAX_WRITER_H_
#define ARCA_LIBS_PIPELINE_PAX_WRITER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "arca/v1/common.pb.h"

namespace arca {

inline constexpr size_t kTarBlock = 512;

// One entry's header blocks and the member data that goes before its file
// bytes (the sparse map of a sparse file, else empty). After them come
// `payload_bytes` bytes of the file (the payload, in extent order), then
// TarPadding(data_size).
struct PaxMember {
  std::string header;       // pax 'x' header (if any) + ustar header, whole blocks
  std::string data_prefix;  // sparse map, whole blocks; empty for dense files
  uint64_t payload_bytes = 0;
  uint64_t data_size = 0;  // data_prefix.size() + payload_bytes
};

// InvalidArgument for an entry that cannot be archived (socket, unknown
// type, extents that do not fit the payload length or the size).
absl::StatusOr<PaxMember> EncodePaxMember(const v1::Entry& e);

// A pax record "LEN KEY=VALUE\n" (LEN counts the whole record).
std::string PaxRecord(absl::string_view key, absl::string_view value);

// Zero bytes up to the next block boundary after `data_size` bytes.
std::string TarPadding(uint64_t data_size);

// The end of an archive: two zero blocks.
std::string TarTrailer();

// "1.5", "-0.000000001", "7": nanoseconds since the epoch as pax time text.
std::string PaxTime(int64_t ns);

// The ACL text GNU tar stores and hands to acl_from_text.
std::string AclText(const google::protobuf::RepeatedPtrField<v1::AclEntry>& acl);

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_PAX_WRITER_H_
