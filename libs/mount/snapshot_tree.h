// The directory tree of one snapshot, built in memory from its metadata
// stream (archive order) for `arca mount`: nodes with their stored metadata,
// children by name, hardlink names resolved to the node of their first name,
// and link counts as the snapshot has them.
//
// Memory: one node per entry (its v1::Entry without the path, its name, the
// child list of directories); the builder's temporary map of directory paths
// is freed when Build returns.
//
// Thread-safety: Build is reentrant; a built tree is immutable and may be
// read from any thread.
#ifndef ARCA_LIBS_MOUNT_SNAPSHOT_TREE_H_
#define ARCA_LIBS_MOUNT_SNAPSHOT_TREE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "arca/v1/common.pb.h"

namespace arca::mount {

inline constexpr uint32_t kNoNode = UINT32_MAX;

struct TreeNode {
  // The stored metadata with `path` cleared (the name is below). For a
  // HARDLINK name only `type` and `hardlink_target` matter: its metadata is
  // that of `link_to`.
  v1::Entry entry;
  std::string name;            // "" for the root
  uint32_t parent = kNoNode;   // the root's parent is itself (0)
  std::vector<uint32_t> children;  // directories: sorted bytewise by name
  // Directories: 2 + subdirectories. Regular files: the names of the file in
  // the snapshot (1 + its HARDLINK names). Others: 1. (MountView shows the
  // stored count of directories; the counts of files are these.)
  uint32_t nlink = 1;
  uint32_t link_to = kNoNode;  // HARDLINK names: the node of the first name
};

class SnapshotTree {
 public:
  // Yields the next entry (true) or the end (false); errors are passed on.
  using NextEntry = std::function<absl::StatusOr<bool>(v1::Entry*)>;

  // Builds the tree from entries in archive order (root "" first). `what`
  // names the snapshot in messages. Errors: those of `next`; DataLoss
  // "snapshot <what>: ..." when the stream does not start with the root
  // directory, an entry's parent is not a directory seen before it, a name
  // repeats or is out of order, or a hardlink names no earlier regular file
  // (the metadata is damaged: run arca verify).
  static absl::StatusOr<SnapshotTree> Build(const NextEntry& next, std::string_view what);

  // Node 0 is the root directory.
  size_t size() const { return nodes_.size(); }
  const TreeNode& node(uint32_t i) const { return nodes_[i]; }

  // The node a name stands for: `i` itself, or the first name's node for a
  // HARDLINK name.
  uint32_t Resolve(uint32_t i) const {
    return nodes_[i].link_to == kNoNode ? i : nodes_[i].link_to;
  }

  // The child named `name` of directory `dir` (not resolved), or nullopt
  // (also when `dir` is not a directory).
  std::optional<uint32_t> Child(uint32_t dir, std::string_view name) const;

  // The node at '/'-separated `path` relative to the root ("" = root), not
  // resolved; nullopt when absent.
  std::optional<uint32_t> Find(std::string_view path) const;

 private:
  std::vector<TreeNode> nodes_;
};

}  // namespace arca::mount

#endif  // ARCA_LIBS_MOUNT_SNAPSHOT_TREE_H_
