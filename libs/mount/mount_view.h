// The file-system view behind `arca mount`, without FUSE: inode numbers,
// lookup, attributes, directory listings, symlink targets, extended
// attributes (stored xattrs plus the POSIX ACLs in the kernel's
// system.posix_acl_access / system.posix_acl_default format) and file reads
// with read-ahead, over either one snapshot (its tree at the root) or a
// whole repository (<root>/<group>/<snapshot time>/<tree>).
//
// The snapshots are those that exist when the view is created. A
// snapshot's tree is built from its metadata stream the first time one of
// its inodes is used and kept in a small cache (at most
// MountOptions::max_cached_trees trees and max_cached_nodes nodes in total;
// the least recently used tree is dropped and rebuilt when needed again).
// Inode numbers do not depend on the cache: the snapshot's position in the
// list (high 32 bits, plus one) and the entry's position in its metadata
// stream (low 32 bits), so a dropped tree comes back with the same numbers.
// A hardlink's names share the inode of the first name. A snapshot's root
// directory is shown from its stored entry alone (the first of its metadata
// stream), so listing a group with `ls -l` builds no tree.
//
// Errors: NotFound for unknown inodes, names, handles and absent xattrs;
// FailedPrecondition "not a directory" / "not a symlink" / "not a regular
// file"; DataLoss naming the snapshot when its metadata or payload is
// damaged (run arca verify); the repository's errors.
//
// Thread-safety: not thread-safe (one thread, e.g. a single-threaded FUSE
// loop); each open file's read-ahead threads are internal. `repo` must
// outlive the view.
#ifndef ARCA_LIBS_MOUNT_MOUNT_VIEW_H_
#define ARCA_LIBS_MOUNT_MOUNT_VIEW_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "arca/v1/repository.pb.h"
#include "libs/mount/file_reader.h"
#include "libs/mount/snapshot_tree.h"
#include "libs/store/repository.h"

namespace arca::mount {

inline constexpr uint64_t kRootInode = 1;  // FUSE_ROOT_ID

// What stat(2) shows. mode includes the file type bits (S_IFDIR, ...).
struct Attr {
  uint64_t ino = 0;
  uint32_t mode = 0;
  uint32_t nlink = 1;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  uint64_t blocks = 0;  // 512-byte units: the data a restore would allocate
  uint64_t rdev = 0;
  int64_t atime_ns = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
};

struct MountOptions {
  // Owner of the directories the view makes up (the root and the group
  // directories of a repository view; mode 0555).
  uint32_t uid = 0;
  uint32_t gid = 0;
  size_t max_cached_trees = 4;
  size_t max_cached_nodes = 4'000'000;
  ReadAhead read_ahead;
  // Open files that get read-ahead threads at the same time; files opened
  // beyond this read without read-ahead.
  size_t max_read_ahead_files = 8;
};

class MountView {
 public:
  // A view of one snapshot (id, "latest" or GROUP/latest): its tree is the
  // root. NotFound for an unknown snapshot (the repository's message);
  // DataLoss for damaged metadata. The tree is built here.
  static absl::StatusOr<std::unique_ptr<MountView>> OpenSnapshot(Repository& repo,
                                                                 std::string_view snapshot,
                                                                 const MountOptions& options);
  // A view of every snapshot of the repository, by group and time. Errors:
  // those of Repository::ListSnapshots.
  static absl::StatusOr<std::unique_ptr<MountView>> OpenRepository(Repository& repo,
                                                                   const MountOptions& options);
  MountView(const MountView&) = delete;
  MountView& operator=(const MountView&) = delete;

  // The snapshots in the view (one for OpenSnapshot).
  const std::vector<v1::Manifest>& snapshots() const { return snapshots_; }

  absl::StatusOr<Attr> GetAttr(uint64_t ino);
  // The attributes of `name` in directory `parent`; NotFound when absent.
  absl::StatusOr<Attr> Lookup(uint64_t parent, std::string_view name);

  // Calls `add` for the entries of directory `ino` from position `offset`
  // on: ".", "..", then the children sorted by name. `add` gets the name,
  // the inode, the mode (type bits are what matters) and the position of
  // the next entry; it returns false when it has no room (that entry is
  // then not consumed).
  using DirFiller =
      std::function<bool(std::string_view name, uint64_t ino, uint32_t mode, uint64_t next)>;
  absl::Status ReadDir(uint64_t ino, uint64_t offset, const DirFiller& add);

  absl::StatusOr<std::string> ReadLink(uint64_t ino);

  // Names of the extended attributes, stored order, then the ACL xattrs.
  absl::StatusOr<std::vector<std::string>> ListXattr(uint64_t ino);
  // The value of xattr `name`; NotFound when the entry has none.
  absl::StatusOr<std::string> GetXattr(uint64_t ino, std::string_view name);

  // Opens regular file `ino` for reading; returns a handle.
  absl::StatusOr<uint64_t> Open(uint64_t ino);
  // FileReader::Read through the handle.
  absl::StatusOr<size_t> Read(uint64_t handle, uint64_t offset, std::span<uint8_t> out);
  void Release(uint64_t handle);

  // For tests and statistics: trees built so far, trees cached now.
  uint64_t trees_built() const { return trees_built_; }
  size_t trees_cached() const { return trees_.size(); }

 private:
  struct Where {
    enum class Kind { kRoot, kGroup, kNode } kind;
    uint32_t index = 0;  // kGroup: group; kNode: snapshot slot
    uint32_t node = 0;   // kNode
  };
  struct CachedTree {
    std::unique_ptr<SnapshotTree> tree;
    uint64_t last_used = 0;
  };
  struct Group {
    std::string name;
    std::vector<uint32_t> slots;  // sorted by time name
    int64_t newest_ns = 0;
  };
  struct Handle {
    std::unique_ptr<FileReader> reader;
    bool read_ahead = false;
  };

  MountView(Repository& repo, const MountOptions& options);

  absl::StatusOr<Where> Locate(uint64_t ino) const;
  uint64_t InodeOf(uint32_t slot, uint32_t node) const;
  absl::StatusOr<const SnapshotTree*> Tree(uint32_t slot);
  absl::StatusOr<std::unique_ptr<SnapshotTree>> BuildTree(uint32_t slot);
  absl::StatusOr<std::shared_ptr<const ChunkIndex>> PayloadIndex(uint32_t slot);
  // The tree and resolved node of a kNode inode.
  absl::StatusOr<std::pair<const SnapshotTree*, uint32_t>> NodeOf(uint64_t ino);
  Attr SyntheticDir(uint64_t ino, int64_t mtime_ns, size_t subdirs) const;
  Attr NodeAttr(const SnapshotTree& tree, uint32_t slot, uint32_t node) const;
  // The attributes an entry has on its own (link count: 1, or the stored
  // one of a directory).
  Attr EntryAttr(const v1::Entry& e, uint64_t ino) const;
  // The stored root entry of a snapshot (read once, kept: one per snapshot).
  absl::StatusOr<const v1::Entry*> RootEntry(uint32_t slot);
  std::string TimeName(uint32_t slot) const;

  Repository& repo_;
  const MountOptions options_;
  bool single_ = false;  // OpenSnapshot
  std::vector<v1::Manifest> snapshots_;  // by slot
  std::vector<Group> groups_;            // repository view, sorted by name
  std::vector<uint32_t> group_of_;       // by slot
  int64_t newest_ns_ = 0;
  std::unique_ptr<ChunkSource> chunks_;
  std::map<uint32_t, CachedTree> trees_;  // by slot
  std::map<uint32_t, v1::Entry> root_entries_;  // by slot
  size_t cached_nodes_ = 0;
  uint64_t use_clock_ = 0;
  uint64_t trees_built_ = 0;
  std::map<uint32_t, std::weak_ptr<const ChunkIndex>> payload_indexes_;  // by slot
  std::map<uint64_t, Handle> handles_;
  uint64_t next_handle_ = 1;
  size_t read_ahead_files_ = 0;
};

}  // namespace arca::mount

#endif  // ARCA_LIBS_MOUNT_MOUNT_VIEW_H_
