// MakeAwkwardTree: builds a directory tree holding every case a backup and
// restore must get right, for round-trip tests. Needs root (chown, mknod,
// setuid bits on foreign files) and a file system with xattrs, POSIX ACLs and
// sparse files (ext4, xfs, btrfs, tmpfs with ACLs).
//
// Layout under root (all paths relative):
//   empty_file                      0 bytes
//   empty_dir/
//   large/random.bin                opts.large_file_bytes, deterministic PRNG
//   large/duplicate.bin             same bytes as random.bin
//   large/near_duplicate.bin        random.bin with 16 bytes changed mid-file
//   dups/a.txt, dups/b.txt          identical small files
//   small/d0..d3/fNNNN.txt          opts.small_files small files (0..4 KiB)
//   names/...                       unicode, newline, backslash, non-UTF-8
//                                   (0xE9), glob characters, leading dash and
//                                   space, and a 255-byte name
//   deep/l00/l01/.../l59/bottom.txt 60 nested directories
//   perms/setuid (04755), perms/setgid (02755), perms/sticky_dir/ (01777),
//   perms/setgid_dir/ (02775), perms/mode000_file (0000),
//   perms/mode000_dir/ (0000, holds inside.txt), perms/readonly_dir/ (0555,
//   holds inside.txt)
//   owners/foreign_file, owners/foreign_dir/, owners/foreign_link   12345:54321
//   links/relative -> ../empty_file, links/absolute -> /etc/passwd,
//   links/dangling -> no/such/target, links/to_dir -> ../empty_dir,
//   links/loop -> loop
//   hardlinks/a/first, hardlinks/b/second, hardlinks/c/d/third   one inode
//   special/fifo, special/null (char 1,3), special/loop0 (block 7,0)
//   sparse/sparse_1g                1 GiB, 5 bytes at 1 MiB and 700 MiB+123
//   xattrs/file (user.comment, user.binary), xattrs/dir/ (user.dirnote)
//   acl/file (access ACL), acl/dir/ (access + default ACL),
//   acl/dir/inherited.txt (ACL inherited from acl/dir)
// Every entry, the root included, gets its own nanosecond mtime (the first is
// 1234567890.123456789); directory times are set last, deepest first.
//
// Thread-safety: reentrant; two calls must not share a root.
#ifndef ARCA_LIBS_FS_TESTING_AWKWARD_TREE_H_
#define ARCA_LIBS_FS_TESTING_AWKWARD_TREE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace arca::testing {

inline constexpr char kAwkwardSparseFile[] = "sparse/sparse_1g";
inline constexpr uint64_t kAwkwardSparseSize = uint64_t{1} << 30;
inline constexpr char kAwkwardLargeFile[] = "large/random.bin";
inline constexpr uint32_t kAwkwardForeignUid = 12345;
inline constexpr uint32_t kAwkwardForeignGid = 54321;

struct AwkwardTreeOptions {
  // Size of large/random.bin and its (near-)duplicates.
  uint64_t large_file_bytes = uint64_t{64} << 20;
  // Number of files under small/.
  int small_files = 200;
  // Seed of the PRNG that fills the large and small files.
  uint64_t seed = 1;
  // If set, receives one line per case that could not be created and was
  // skipped (e.g. "special/null: mknod not permitted ..."). Without it, a
  // skipped case is silent.
  std::vector<std::string>* notes = nullptr;
};

// Creates the tree under `root` (created if missing; it should be empty).
// Errors: the errno-derived code of the first call that failed, naming the
// path. Device nodes that mknod may not create (EPERM) and xattrs or ACLs the
// file system refuses (ENOTSUP) are skipped with a note instead.
absl::Status MakeAwkwardTree(const std::string& root, const AwkwardTreeOptions& opts = {});

}  // namespace arca::testing

#endif  // ARCA_LIBS_FS_TESTING_AWKWARD_TREE_H_
