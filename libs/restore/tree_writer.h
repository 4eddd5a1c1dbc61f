// TreeWriter: writes a tree of v1::Entry records (the metadata stream of a
// snapshot) and their file contents under a target directory, safely.
//
// Every file-system call goes through a fs::WritableFileSystem
// (libs/fs/writable_file_system.h): the real one (PosixWritableFileSystem,
// the default) or a fault-injecting wrapper in tests.
//
// Safety: every file-system call is relative to an open directory handle
// (openat, mkdirat, symlinkat, linkat, mknodat, fchownat, utimensat, ... in
// the POSIX implementation) with O_NOFOLLOW / AT_SYMLINK_NOFOLLOW, so the
// writer never follows a symlink, neither one it created itself nor one it
// found in the target. Stored paths are validated before use: a path with an
// empty, "." or ".." component, a leading '/' or a NUL byte is refused. An existing
// non-directory at a path is unlinked before the new entry is created with
// O_EXCL, so an existing hardlink or symlink in the target is never written
// through. Paths longer than PATH_MAX work (each call sees one component).
//
// Open directory handles are bounded by the depth of the current path: the
// writer keeps a stack of handles along the path of the last entry.
//
// Errors from the file system keep the code of the failed call (ENOSPC/EDQUOT
// → ResourceExhausted, EACCES/EPERM → PermissionDenied, EIO → Unavailable,
// ...; see writable_file_system.h) and say "<what> '<restored path>' [in
// <target>]: <system error>; <what to do>".
//
// Thread-safety: a TreeWriter is not thread-safe; use one per thread. The
// one exception: WriteDataAt calls for disjoint ranges of the current file
// may run concurrently (see there).
#ifndef ARCA_LIBS_RESTORE_TREE_WRITER_H_
#define ARCA_LIBS_RESTORE_TREE_WRITER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "arca/v1/common.pb.h"
#include "libs/fs/exclude.h"
#include "libs/fs/writable_file_system.h"

namespace arca {

// What the writer does with an entry that already exists in the target.
enum class OverwritePolicy {
  // Replace it (unlink, then create anew; an existing directory is reused
  // and gets the snapshot's metadata). The behaviour before the option.
  kAlways,
  // Keep it when a quick check says it is the snapshot's entry: same type
  // and mtime (ns); regular files the same size, symlinks the same target,
  // devices the same rdev; the same permission bits (not symlinks); and,
  // when the restore runs as root, the same owner (otherwise the restore
  // could not set one anyway). Content, xattrs and ACLs are not compared
  // (like rsync without --checksum). A directory is reused; its metadata is
  // applied only when mode, owner or mtime differ at the end.
  kIfChanged,
  // Keep whatever exists at the entry's path (any type), and everything
  // below a non-directory kept where the snapshot has a directory; an
  // existing directory is reused without changing its metadata.
  kNever,
};

// "always", "if-changed", "never" (the CLI's words) and back.
// InvalidArgument naming the value and the choices.
absl::StatusOr<OverwritePolicy> ParseOverwritePolicy(absl::string_view word);
const char* OverwritePolicyName(OverwritePolicy policy);
// The wire form (v1::Overwrite; UNSPECIFIED = always) and back.
// InvalidArgument for a number outside the enum.
absl::StatusOr<OverwritePolicy> OverwritePolicyFromProto(int value);
v1::Overwrite OverwritePolicyToProto(OverwritePolicy policy);

struct TreeWriterOptions {
  OverwritePolicy overwrite = OverwritePolicy::kAlways;
  // After the last entry (in Finish, before directory metadata), remove
  // every node of a swept directory that no entry of this restore named,
  // recursively, never following a symlink and never descending into
  // another file system (a mount point is left, with a warning). Swept: the
  // target itself and every directory restored from a directory entry;
  // with `delete_scope`, only restored directories that match it or lie
  // below a match (never the target itself), so a restore of some paths
  // only deletes inside them. Open refuses it for the target "/".
  bool delete_extraneous = false;
  fs::PathMatcher delete_scope;  // empty: no bound
};

// The options of a restore (both modes: RunRestore in embedded mode, the
// collector's WriteTree in distributed mode): `delete_extraneous` bounded by
// the restore's include patterns. InvalidArgument naming a bad pattern.
absl::StatusOr<TreeWriterOptions> MakeTreeWriterOptions(OverwritePolicy overwrite,
                                                        bool delete_extraneous,
                                                        const std::vector<std::string>& includes);

class TreeWriter {
 public:
  // Creates `target` (and its parents, mode 0700) if missing and opens it,
  // through `file_system` (not owned; it must outlive the writer), or
  // through fs::DefaultWritableFileSystem() (the real file system) when
  // null. `target` itself is the operator's path and may be a symlink to a
  // directory; nothing below it is ever followed.
  // Errors: FailedPrecondition if `target` exists and is not a directory;
  // the errno-derived code (e.g. PermissionDenied) if it cannot be created
  // or opened. The message names the path.
  // With options.delete_extraneous: InvalidArgument when `target` is the
  // root directory "/".
  static absl::StatusOr<std::unique_ptr<TreeWriter>> Open(
      const std::string& target, fs::WritableFileSystem* file_system = nullptr,
      TreeWriterOptions options = {});

  ~TreeWriter();
  TreeWriter(const TreeWriter&) = delete;
  TreeWriter& operator=(const TreeWriter&) = delete;

  // Starts the restore of `entry`. Entries arrive in archive order: depth-first
  // pre-order, a directory before its children; the root directory has path
  // "" (its metadata is applied to the target itself).
  //
  // - InvalidArgument "refusing to restore '<path>': it would write outside
  //   <target>" if entry.path (or a hardlink's hardlink_target) is not a
  //   relative '/'-separated path without empty, "." or ".." components and
  //   without NUL bytes; InvalidArgument also for an unsupported type (socket,
  //   unspecified), a non-directory root, or extents outside the file size.
  // - FailedPrecondition if the previous entry was not finished, if a
  //   non-empty directory stands where a non-directory must go, or if a
  //   hardlink's target was not restored earlier by this writer.
  // - A missing parent directory (its entry was filtered out, or comes later)
  //   is created with mode 0700; a later entry for it fixes its metadata.
  // - An existing non-directory at the path is removed first; an existing
  //   directory is reused (its other contents are left alone until Finish
  //   sweeps them with delete_extraneous). With overwrite kNever or
  //   kIfChanged an existing entry may be kept instead (skipping_entry()):
  //   nothing is changed, WriteData discards the data and FinishEntry
  //   counts it in entries_skipped().
  // - ENTRY_TYPE_REGULAR: the file is created (empty) and stays open for
  //   WriteData until FinishEntry. Other types are created here too.
  // - A device node that cannot be created for lack of privilege (EPERM) is
  //   skipped with a warning.
  absl::Status BeginEntry(const v1::Entry& entry);

  // Appends the next bytes of the current regular file's data: the regions of
  // entry.extents, in order, when entry.sparse (holes are never written, so the
  // file stays sparse); otherwise the whole content from offset 0. Chunks may
  // have any size and may span extents.
  // Errors: FailedPrecondition if no regular file is open; DataLoss if the
  // bytes exceed what the entry declares; ResourceExhausted when the target
  // file system is full (ENOSPC, EDQUOT), Unavailable on EIO; the message
  // names the entry's path.
  absl::Status WriteData(std::span<const uint8_t> data);

  // Parallel data (a large file written by several threads, by chunk
  // ranges): writes `data` at `data_offset` of the current regular file's
  // data (the bytes WriteData would receive: the extents' bytes in order
  // when sparse, so holes stay holes). Calls for disjoint ranges may run
  // concurrently (pwrite on one descriptor); nothing else may run meanwhile,
  // and WriteData must not be mixed with it for one entry. Then
  // EndParallelData. Errors: FailedPrecondition without an open regular
  // file; DataLoss for a range beyond what the entry declares; the write's
  // errno code naming the path (as WriteData).
  absl::Status WriteDataAt(uint64_t data_offset, std::span<const uint8_t> data);

  // After the WriteDataAt calls: the first `intact` data bytes were all
  // written (all of them, or the prefix before damage). Anything written
  // beyond them is cut off (ftruncate), so an abandoned file holds exactly
  // its intact prefix, as with WriteData. Then FinishEntry or AbandonEntry.
  // Errors: FailedPrecondition without an open regular file; DataLoss when
  // `intact` exceeds the declared bytes; a failed ftruncate (errno code).
  absl::Status EndParallelData(uint64_t intact);

  // Completes the current entry. For a regular file: DataLoss unless every
  // declared byte arrived; then sets the size (ftruncate, so a sparse tail
  // stays a hole), owner, xattrs, POSIX ACLs, mode (incl. setuid/setgid/
  // sticky; after chown, which clears them, and after the ACL, whose mask
  // would otherwise rewrite the group bits), then atime/mtime in ns. Symlinks
  // get owner, xattrs and times (never a mode); fifos and devices all of it.
  // Directories were only created: their metadata is applied by Finish, so
  // their children neither disturb the mtime nor meet a read-only directory.
  // Hardlinks share their first name's inode: nothing more to apply.
  // A refused chown (EPERM, not root) or xattr/ACL (namespace not supported
  // by the target file system) becomes a warning; other failures are errors,
  // a failed close of the file (EIO, ENOSPC on some file systems) included.
  absl::Status FinishEntry();

  // Gives up the current entry instead of finishing it: the restore job calls
  // it when the entry's data cannot be read from a damaged snapshot, and
  // goes on with the next entry. A regular file keeps the bytes written so
  // far (the intact prefix, shorter than the entry declares) and none of the
  // entry's metadata: mode 0600, the restoring user as owner, the time of
  // the restore as mtime, so it does not look complete; hardlinks to it that
  // come later link to that partial file. Other types: nothing more is
  // applied. The entry does not count in entries_written().
  // Errors: FailedPrecondition without BeginEntry; a failed close (errno
  // code, the message names the path).
  absl::Status AbandonEntry();

  // With delete_extraneous, first removes what the snapshot does not have
  // (see TreeWriterOptions). Then applies the metadata of every directory,
  // deepest first, then the root's. Must be called once, after the last
  // FinishEntry.
  // Errors: FailedPrecondition if an entry is still open or Finish was
  // already called; errno-derived codes naming the directory otherwise.
  absl::Status Finish();

  // Problems that did not stop the restore (phase PHASE_RESTORE), since the
  // last call.
  std::vector<v1::Warning> TakeWarnings();

  // After BeginEntry: the existing entry is kept (overwrite policy), so its
  // data is not needed (WriteData would discard it).
  bool skipping_entry() const { return in_entry_ && keep_; }

  // Entries completed by FinishEntry (kept ones excluded).
  uint64_t entries_written() const { return entries_written_; }
  // Entries left as they were in the target (overwrite kNever/kIfChanged).
  uint64_t entries_skipped() const { return entries_skipped_; }
  // delete_extraneous: nodes removed (each file and directory of a removed
  // subtree), and the removed subtrees' paths (the first kMaxDeletedPaths).
  uint64_t entries_deleted() const { return entries_deleted_; }
  const std::vector<std::string>& deleted_paths() const { return deleted_paths_; }
  static constexpr size_t kMaxDeletedPaths = 1000;
  // File data bytes written by WriteData.
  uint64_t bytes_written() const { return bytes_written_; }

 private:
  struct DirLevel {
    std::string name;  // component name; "" for the root
    std::unique_ptr<fs::WritableDirectory> dir;
    // A default ACL is in effect here: new children inherit ACL entries
    // that the archive does not hold, and must have them removed.
    bool inherits_acl = false;
  };
  struct PendingDir {
    v1::Entry entry;
    size_t depth = 0;  // number of path components
    bool apply = true;     // false: an existing directory kept (kNever)
    bool compare = false;  // kIfChanged: apply only when the metadata differs
  };
  struct OpenFile {
    std::unique_ptr<fs::WritableFile> file;  // null when none is open
    uint64_t declared = 0;                   // bytes WriteData must deliver
    uint64_t received = 0;
    int extent = 0;          // index into entry.extents (sparse)
    uint64_t in_extent = 0;  // bytes received within that extent
  };

  // The file offset of data byte `data_offset` of the current (sparse) file
  // and the bytes left in its extent from there.
  std::pair<uint64_t, uint64_t> FileOffsetOf(uint64_t data_offset) const;

  TreeWriter(std::string target, std::unique_ptr<fs::WritableDirectory> root_dir,
             TreeWriterOptions options, bool target_existed);

  // Makes the top of the stack the directory `components` (relative to the
  // root), opening (and with `create`, creating 0700 / replacing a
  // non-directory) each component below the common prefix. With `blocked`
  // and overwrite kNever, a non-directory in the way is kept: *blocked is
  // set and the stack ends at its parent.
  absl::Status ChangeDir(const std::vector<std::string>& components, bool create,
                         bool* blocked = nullptr);
  void PopTo(size_t depth);
  fs::WritableDirectory& top() const { return *stack_.back().dir; }
  std::string StackPath() const;

  // Removes whatever non-directory is at `name` in the current directory; an
  // existing directory is left (and reported via *is_dir) or, with
  // `remove_empty_dir`, removed when empty.
  absl::Status ClearName(const std::string& name, const std::string& path, bool* is_dir,
                         bool remove_empty_dir);

  absl::Status BeginRegular(const std::string& name);
  absl::Status BeginDirectory(const std::string& name, const std::vector<std::string>& components);
  absl::Status BeginHardlink(const std::string& name);
  absl::Status BeginNode(const std::string& name, uint32_t type);  // S_IF*

  // Overwrite policy: whether the node at `name` in the current directory
  // (`existing`, from Lstat) stays as it is for the current entry.
  absl::StatusOr<bool> KeepExisting(const std::string& name, const fs::StatInfo& existing);
  // Whether the owner, mode (unless a symlink) and mtime of `st` are the
  // entry's (the kIfChanged quick check).
  bool SameMetadata(const fs::StatInfo& st, const v1::Entry& e, bool check_mode) const;
  // Marks the current entry kept: BeginEntry's callers see skipping_entry().
  void Keep();

  // delete_extraneous: sweeps every swept directory (Finish).
  absl::Status DeleteExtraneous();
  absl::Status SweepDirectory(fs::WritableDirectory& dir, const std::string& path);
  // Removes node `name` of `dir` (at restored path `path`) and all below it.
  absl::Status RemoveTree(fs::WritableDirectory& dir, uint64_t dir_dev, const std::string& name,
                          const std::string& path);

  absl::Status FinishRegular();
  absl::Status FinishNamed();  // symlink, fifo, devices
  absl::Status ApplyDirMetadata(fs::WritableDirectory& dir, const v1::Entry& entry,
                                const std::string& shown);

  // pwrite of `data` at `offset` of the open file.
  absl::Status WriteAll(std::span<const uint8_t> data, uint64_t offset, const std::string& shown);

  // Metadata helpers; `shown` is the path for messages.
  // chown; EPERM becomes a warning, other failures an error saying `what`.
  absl::Status SetOwner(fs::WritableNode& node, const v1::Entry& entry, const std::string& what);
  absl::Status ApplyXattrs(fs::WritableNode& node, const v1::Entry& entry,
                           const std::string& shown);
  absl::Status ApplyAcls(fs::WritableNode& node, bool is_dir, bool inherited,
                         const v1::Entry& entry, const std::string& shown);
  void RememberInode(uint64_t dev, uint64_t ino);
  void Warn(const std::string& path, const std::string& message);

  std::string target_;
  TreeWriterOptions options_;
  bool target_existed_ = false;  // the target directory was there before Open
  bool compare_owner_ = false;   // kIfChanged compares uid/gid (running as root)
  std::vector<DirLevel> stack_;  // stack_[0] is the target directory
  bool root_inherits_acl_ = false;

  bool in_entry_ = false;
  bool finished_ = false;
  bool skipped_entry_ = false;  // current entry was skipped with a warning
  bool keep_ = false;           // current entry exists and is kept (overwrite)
  v1::Entry current_;
  std::string current_name_;  // last component of current_.path
  OpenFile file_;

  std::vector<PendingDir> pending_dirs_;
  bool have_root_entry_ = false;
  bool root_kept_ = false;  // kNever and the target existed: no root metadata
  v1::Entry root_entry_;

  // Inodes restored (or kept) by this writer that hardlinks may point at.
  absl::flat_hash_set<std::pair<uint64_t, uint64_t>> link_inodes_;
  // First names of hardlink groups kept as something other than a regular
  // file: their hardlinks are kept too (with a warning).
  absl::flat_hash_set<std::string> unlinkable_kept_;
  // delete_extraneous: every path BeginEntry was given.
  absl::flat_hash_set<std::string> seen_paths_;

  std::vector<v1::Warning> warnings_;
  uint64_t entries_written_ = 0;
  uint64_t bytes_written_ = 0;
  uint64_t entries_skipped_ = 0;
  uint64_t entries_deleted_ = 0;
  std::vector<std::string> deleted_paths_;
};

}  // namespace arca

#endif  // ARCA_LIBS_RESTORE_TREE_WRITER_H_
