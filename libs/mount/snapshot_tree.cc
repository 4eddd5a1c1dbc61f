#include "libs/mount/snapshot_tree.h"

#include <algorithm>
#include <string>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/escaping.h"
#include "libs/base/status_macros.h"

namespace arca::mount {
namespace {

absl::Status Damaged(std::string_view what, const std::string& path, std::string_view problem) {
  return absl::DataLossError(absl::StrCat("snapshot ", std::string(what), ": entry '",
                                          absl::CEscape(path), "' ", std::string(problem),
                                          "; the metadata is damaged (run arca verify)"));
}

}  // namespace

absl::StatusOr<SnapshotTree> SnapshotTree::Build(const NextEntry& next, std::string_view what) {
  SnapshotTree tree;
  std::unordered_map<std::string, uint32_t> dirs;  // directory path -> node
  std::vector<std::pair<uint32_t, std::string>> hardlinks;  // node, target path
  v1::Entry e;
  while (true) {
    ASSIGN_OR_RETURN(bool more, next(&e));
    if (!more) break;
    std::string path = std::move(*e.mutable_path());
    e.clear_path();
    const uint32_t index = static_cast<uint32_t>(tree.nodes_.size());
    if (tree.nodes_.empty()) {
      if (!path.empty() || e.type() != v1::ENTRY_TYPE_DIRECTORY) {
        return Damaged(what, path, "comes first instead of the root directory");
      }
      TreeNode root;
      root.entry = std::move(e);
      root.parent = 0;
      root.nlink = 2;
      tree.nodes_.push_back(std::move(root));
      dirs.emplace("", 0);
      continue;
    }
    if (index == kNoNode) return Damaged(what, path, "is beyond 2^32 - 1 entries");
    const size_t slash = path.rfind('/');
    const std::string parent_path = slash == std::string::npos ? "" : path.substr(0, slash);
    std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    auto parent = dirs.find(parent_path);
    if (path.empty() || name.empty() || parent == dirs.end()) {
      return Damaged(what, path, "has no parent directory before it");
    }
    TreeNode& dir = tree.nodes_[parent->second];
    if (!dir.children.empty() && tree.nodes_[dir.children.back()].name >= name) {
      return Damaged(what, path, "repeats a name or is out of archive order");
    }
    dir.children.push_back(index);
    if (e.type() == v1::ENTRY_TYPE_DIRECTORY) {
      ++dir.nlink;
      dirs.emplace(path, index);
    }
    TreeNode n;
    n.name = std::move(name);
    n.parent = parent->second;
    n.nlink = e.type() == v1::ENTRY_TYPE_DIRECTORY ? 2 : 1;
    if (e.type() == v1::ENTRY_TYPE_HARDLINK) hardlinks.emplace_back(index, e.hardlink_target());
    n.entry = std::move(e);
    tree.nodes_.push_back(std::move(n));
  }
  if (tree.nodes_.empty()) {
    return absl::DataLossError(absl::StrCat("snapshot ", std::string(what),
                                            ": the metadata stream has no entries, not even the "
                                            "root directory; the metadata is damaged (run arca "
                                            "verify)"));
  }
  dirs.clear();
  for (auto& [index, target] : hardlinks) {
    std::optional<uint32_t> t = tree.Find(target);
    if (!t || tree.nodes_[*t].entry.type() != v1::ENTRY_TYPE_REGULAR) {
      std::string path = tree.nodes_[index].name;
      return Damaged(what, path,
                     absl::StrCat("is a hardlink to '", absl::CEscape(target),
                                  "', which is not an earlier regular file"));
    }
    tree.nodes_[index].link_to = *t;
    ++tree.nodes_[*t].nlink;
  }
  return tree;
}

std::optional<uint32_t> SnapshotTree::Child(uint32_t dir, std::string_view name) const {
  if (dir >= nodes_.size()) return std::nullopt;
  const std::vector<uint32_t>& c = nodes_[dir].children;
  auto it = std::lower_bound(c.begin(), c.end(), name, [&](uint32_t i, std::string_view n) {
    return std::string_view(nodes_[i].name) < n;
  });
  if (it == c.end() || nodes_[*it].name != name) return std::nullopt;
  return *it;
}

std::optional<uint32_t> SnapshotTree::Find(std::string_view path) const {
  if (nodes_.empty()) return std::nullopt;
  uint32_t at = 0;
  while (!path.empty()) {
    const size_t slash = path.find('/');
    std::string_view part = path.substr(0, slash);
    std::optional<uint32_t> c = Child(at, part);
    if (!c) return std::nullopt;
    at = *c;
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
  }
  return at;
}

}  // namespace arca::mount
