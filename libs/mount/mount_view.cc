#include "libs/mount/mount_view.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "libs/base/bytes.h"
#include "libs/base/status_macros.h"
#include "libs/fs/posix_acl.h"
#include "libs/pipeline/repository_chunk_source.h"
#include "libs/pipeline/snapshot_reader.h"

namespace arca::mount {
namespace {

constexpr uint64_t kFirstGroupInode = 2;

uint32_t TypeBits(v1::EntryType type) {
  switch (type) {
    case v1::ENTRY_TYPE_DIRECTORY:
      return S_IFDIR;
    case v1::ENTRY_TYPE_SYMLINK:
      return S_IFLNK;
    case v1::ENTRY_TYPE_FIFO:
      return S_IFIFO;
    case v1::ENTRY_TYPE_CHAR_DEVICE:
      return S_IFCHR;
    case v1::ENTRY_TYPE_BLOCK_DEVICE:
      return S_IFBLK;
    default:
      return S_IFREG;
  }
}

uint64_t Blocks(uint64_t bytes) { return (bytes + 511) / 512; }

absl::Status NoInode(uint64_t ino) {
  return absl::NotFoundError(absl::StrCat("no inode ", ino, " in the mounted view"));
}

}  // namespace

MountView::MountView(Repository& repo, const MountOptions& options)
    : repo_(repo), options_(options), chunks_(std::make_unique<RepositoryChunkSource>(repo.chunks(), repo.key())) {}

absl::StatusOr<std::unique_ptr<MountView>> MountView::OpenSnapshot(Repository& repo,
                                                                   std::string_view snapshot,
                                                                   const MountOptions& options) {
  std::unique_ptr<MountView> v(new MountView(repo, options));
  v->single_ = true;
  ASSIGN_OR_RETURN(std::unique_ptr<SnapshotReader> reader,
                   SnapshotReader::Open(repo, std::string(snapshot)));
  v->snapshots_.push_back(reader->manifest());
  v->group_of_.push_back(0);
  v->newest_ns_ = reader->manifest().time_unix_ns();
  ASSIGN_OR_RETURN(SnapshotTree tree,
                   SnapshotTree::Build([&](v1::Entry* e) { return reader->Next(e); },
                                       reader->id()));
  ++v->trees_built_;
  v->cached_nodes_ = tree.size();
  v->trees_[0] = CachedTree{std::make_unique<SnapshotTree>(std::move(tree)), ++v->use_clock_};
  return v;
}

absl::StatusOr<std::unique_ptr<MountView>> MountView::OpenRepository(Repository& repo,
                                                                     const MountOptions& options) {
  std::unique_ptr<MountView> v(new MountView(repo, options));
  ASSIGN_OR_RETURN(v->snapshots_, repo.ListSnapshots());
  std::map<std::string, std::vector<uint32_t>> by_group;
  for (uint32_t s = 0; s < v->snapshots_.size(); ++s) {
    by_group[v->snapshots_[s].group()].push_back(s);
  }
  v->group_of_.resize(v->snapshots_.size());
  for (auto& [name, slots] : by_group) {
    Group g;
    g.name = name;
    std::sort(slots.begin(), slots.end(),
              [&](uint32_t a, uint32_t b) { return v->TimeName(a) < v->TimeName(b); });
    g.slots = slots;
    for (uint32_t s : slots) {
      v->group_of_[s] = static_cast<uint32_t>(v->groups_.size());
      g.newest_ns = std::max(g.newest_ns, v->snapshots_[s].time_unix_ns());
    }
    v->newest_ns_ = std::max(v->newest_ns_, g.newest_ns);
    v->groups_.push_back(std::move(g));
  }
  return v;
}

std::string MountView::TimeName(uint32_t slot) const {
  const std::string& id = snapshots_[slot].id();
  const size_t slash = id.rfind('/');
  return slash == std::string::npos ? id : id.substr(slash + 1);
}

absl::StatusOr<MountView::Where> MountView::Locate(uint64_t ino) const {
  if (ino == kRootInode) {
    if (single_) return Where{Where::Kind::kNode, 0, 0};
    return Where{Where::Kind::kRoot};
  }
  const uint64_t high = ino >> 32;
  if (high == 0) {
    if (single_ || ino < kFirstGroupInode || ino - kFirstGroupInode >= groups_.size()) {
      return NoInode(ino);
    }
    return Where{Where::Kind::kGroup, static_cast<uint32_t>(ino - kFirstGroupInode)};
  }
  if (high - 1 >= snapshots_.size()) return NoInode(ino);
  const uint32_t node = static_cast<uint32_t>(ino);
  if (single_ && node == 0) return NoInode(ino);  // the root is kRootInode
  return Where{Where::Kind::kNode, static_cast<uint32_t>(high - 1), node};
}

uint64_t MountView::InodeOf(uint32_t slot, uint32_t node) const {
  if (single_ && node == 0) return kRootInode;
  return ((uint64_t{slot} + 1) << 32) | node;
}

absl::StatusOr<std::unique_ptr<SnapshotTree>> MountView::BuildTree(uint32_t slot) {
  const std::string& id = snapshots_[slot].id();
  ASSIGN_OR_RETURN(std::unique_ptr<SnapshotReader> reader, SnapshotReader::Open(repo_, id));
  ASSIGN_OR_RETURN(SnapshotTree tree,
                   SnapshotTree::Build([&](v1::Entry* e) { return reader->Next(e); }, id));
  ++trees_built_;
  return std::make_unique<SnapshotTree>(std::move(tree));
}

absl::StatusOr<const v1::Entry*> MountView::RootEntry(uint32_t slot) {
  auto it = root_entries_.find(slot);
  if (it != root_entries_.end()) return &it->second;
  const std::string& id = snapshots_[slot].id();
  ASSIGN_OR_RETURN(std::unique_ptr<SnapshotReader> reader, SnapshotReader::Open(repo_, id));
  v1::Entry e;
  ASSIGN_OR_RETURN(bool any, reader->Next(&e));
  if (!any || !e.path().empty() || e.type() != v1::ENTRY_TYPE_DIRECTORY) {
    return absl::DataLossError(absl::StrCat("snapshot ", id,
                                            ": the metadata stream does not start with the "
                                            "root directory; the metadata is damaged (run arca "
                                            "verify)"));
  }
  e.clear_path();
  return &root_entries_.emplace(slot, std::move(e)).first->second;
}

absl::StatusOr<const SnapshotTree*> MountView::Tree(uint32_t slot) {
  auto it = trees_.find(slot);
  if (it != trees_.end()) {
    it->second.last_used = ++use_clock_;
    return it->second.tree.get();
  }
  ASSIGN_OR_RETURN(std::unique_ptr<SnapshotTree> tree, BuildTree(slot));
  const SnapshotTree* out = tree.get();
  cached_nodes_ += tree->size();
  trees_[slot] = CachedTree{std::move(tree), ++use_clock_};
  // Drop the least recently used other trees until within the bounds.
  while (trees_.size() > 1 && (trees_.size() > options_.max_cached_trees ||
                               cached_nodes_ > options_.max_cached_nodes)) {
    auto oldest = trees_.end();
    for (auto t = trees_.begin(); t != trees_.end(); ++t) {
      if (t->first == slot) continue;
      if (oldest == trees_.end() || t->second.last_used < oldest->second.last_used) oldest = t;
    }
    cached_nodes_ -= oldest->second.tree->size();
    trees_.erase(oldest);
  }
  return out;
}

absl::StatusOr<std::pair<const SnapshotTree*, uint32_t>> MountView::NodeOf(uint64_t ino) {
  ASSIGN_OR_RETURN(Where w, Locate(ino));
  if (w.kind != Where::Kind::kNode) {
    return absl::FailedPreconditionError(
        absl::StrCat("inode ", ino, " is a directory of the view, not of a snapshot"));
  }
  ASSIGN_OR_RETURN(const SnapshotTree* tree, Tree(w.index));
  if (w.node >= tree->size()) return NoInode(ino);
  // Hardlink names never get inodes of their own: their first name's is used.
  return std::make_pair(tree, tree->Resolve(w.node));
}

Attr MountView::SyntheticDir(uint64_t ino, int64_t mtime_ns, size_t subdirs) const {
  Attr a;
  a.ino = ino;
  a.mode = S_IFDIR | 0555;
  a.nlink = static_cast<uint32_t>(2 + subdirs);
  a.uid = options_.uid;
  a.gid = options_.gid;
  a.atime_ns = a.mtime_ns = a.ctime_ns = mtime_ns;
  return a;
}

Attr MountView::NodeAttr(const SnapshotTree& tree, uint32_t slot, uint32_t node) const {
  const TreeNode& n = tree.node(node);
  const v1::Entry& e = n.entry;
  Attr a = EntryAttr(e, InodeOf(slot, node));
  // Directories keep the stored link count (as the source had it; the same
  // whether or not the tree is built); files have the names they have in
  // the snapshot (its hardlink structure).
  if (e.type() != v1::ENTRY_TYPE_DIRECTORY) a.nlink = n.nlink;
  return a;
}

Attr MountView::EntryAttr(const v1::Entry& e, uint64_t ino) const {
  Attr a;
  a.ino = ino;
  a.mode = TypeBits(e.type()) | (e.mode() & 07777);
  // 1 for a directory without a stored count: "unknown", as find(1) reads it.
  a.nlink = e.type() == v1::ENTRY_TYPE_DIRECTORY && e.nlink() > 0 ? e.nlink() : 1;
  a.uid = e.uid();
  a.gid = e.gid();
  a.atime_ns = e.atime_ns();
  a.mtime_ns = e.mtime_ns();
  a.ctime_ns = e.ctime_ns();
  switch (e.type()) {
    case v1::ENTRY_TYPE_REGULAR:
      a.size = e.size();
      a.blocks = Blocks(e.sparse() ? e.payload().length() : e.size());
      break;
    case v1::ENTRY_TYPE_SYMLINK:
      a.size = e.symlink_target().size();
      break;
    case v1::ENTRY_TYPE_DIRECTORY:
      a.size = e.size();
      a.blocks = Blocks(e.size());
      break;
    case v1::ENTRY_TYPE_CHAR_DEVICE:
    case v1::ENTRY_TYPE_BLOCK_DEVICE:
      a.rdev = e.rdev();
      break;
    default:
      break;
  }
  return a;
}

absl::StatusOr<Attr> MountView::GetAttr(uint64_t ino) {
  ASSIGN_OR_RETURN(Where w, Locate(ino));
  switch (w.kind) {
    case Where::Kind::kRoot:
      return SyntheticDir(ino, newest_ns_, groups_.size());
    case Where::Kind::kGroup: {
      const Group& g = groups_[w.index];
      return SyntheticDir(ino, g.newest_ns, g.slots.size());
    }
    case Where::Kind::kNode:
      break;
  }
  if (w.node == 0 && !trees_.contains(w.index)) {
    // A snapshot's root directory (`ls -l` of a group lists every one):
    // its stored entry, without building the tree.
    ASSIGN_OR_RETURN(const v1::Entry* root, RootEntry(w.index));
    return EntryAttr(*root, ino);
  }
  ASSIGN_OR_RETURN(auto tn, NodeOf(ino));
  return NodeAttr(*tn.first, w.index, tn.second);
}

absl::StatusOr<Attr> MountView::Lookup(uint64_t parent, std::string_view name) {
  ASSIGN_OR_RETURN(Where w, Locate(parent));
  auto absent = [&] {
    return absl::NotFoundError(
        absl::StrCat("no entry '", absl::CEscape(std::string(name)), "' in directory inode ", parent));
  };
  if (w.kind == Where::Kind::kRoot) {
    auto it = std::lower_bound(groups_.begin(), groups_.end(), name,
                               [](const Group& g, std::string_view n) { return g.name < n; });
    if (it == groups_.end() || it->name != name) return absent();
    return GetAttr(kFirstGroupInode + (it - groups_.begin()));
  }
  if (w.kind == Where::Kind::kGroup) {
    for (uint32_t s : groups_[w.index].slots) {
      if (TimeName(s) == name) return GetAttr(InodeOf(s, 0));
    }
    return absent();
  }
  ASSIGN_OR_RETURN(auto tn, NodeOf(parent));
  const SnapshotTree& tree = *tn.first;
  if (tree.node(tn.second).entry.type() != v1::ENTRY_TYPE_DIRECTORY) {
    return absl::FailedPreconditionError(absl::StrCat("inode ", parent, " is not a directory"));
  }
  std::optional<uint32_t> c = tree.Child(tn.second, name);
  if (!c) return absent();
  return NodeAttr(tree, w.index, tree.Resolve(*c));
}

absl::Status MountView::ReadDir(uint64_t ino, uint64_t offset, const DirFiller& add) {
  ASSIGN_OR_RETURN(Where w, Locate(ino));
  // Positions: 0 ".", 1 "..", 2 + i the i-th child.
  auto dots = [&](uint64_t parent) {
    if (offset == 0 && !add(".", ino, S_IFDIR, 1)) return false;
    if (offset <= 1 && !add("..", parent, S_IFDIR, 2)) return false;
    return true;
  };
  const uint64_t first = offset < 2 ? 0 : offset - 2;
  if (w.kind == Where::Kind::kRoot) {
    if (!dots(kRootInode)) return absl::OkStatus();
    for (uint64_t i = first; i < groups_.size(); ++i) {
      if (!add(groups_[i].name, kFirstGroupInode + i, S_IFDIR, i + 3)) break;
    }
    return absl::OkStatus();
  }
  if (w.kind == Where::Kind::kGroup) {
    if (!dots(kRootInode)) return absl::OkStatus();
    const std::vector<uint32_t>& slots = groups_[w.index].slots;
    for (uint64_t i = first; i < slots.size(); ++i) {
      if (!add(TimeName(slots[i]), InodeOf(slots[i], 0), S_IFDIR, i + 3)) break;
    }
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(auto tn, NodeOf(ino));
  const SnapshotTree& tree = *tn.first;
  const TreeNode& dir = tree.node(tn.second);
  if (dir.entry.type() != v1::ENTRY_TYPE_DIRECTORY) {
    return absl::FailedPreconditionError(absl::StrCat("inode ", ino, " is not a directory"));
  }
  uint64_t parent = InodeOf(w.index, dir.parent);
  if (tn.second == 0) {
    parent = single_ ? kRootInode : kFirstGroupInode + group_of_[w.index];
  }
  if (!dots(parent)) return absl::OkStatus();
  for (uint64_t i = first; i < dir.children.size(); ++i) {
    const uint32_t c = dir.children[i];
    const uint32_t r = tree.Resolve(c);
    if (!add(tree.node(c).name, InodeOf(w.index, r), TypeBits(tree.node(r).entry.type()), i + 3)) {
      break;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> MountView::ReadLink(uint64_t ino) {
  ASSIGN_OR_RETURN(Where w, Locate(ino));
  if (w.kind != Where::Kind::kNode) {
    return absl::FailedPreconditionError(absl::StrCat("inode ", ino, " is not a symlink"));
  }
  ASSIGN_OR_RETURN(auto tn, NodeOf(ino));
  const v1::Entry& e = tn.first->node(tn.second).entry;
  if (e.type() != v1::ENTRY_TYPE_SYMLINK) {
    return absl::FailedPreconditionError(absl::StrCat("inode ", ino, " is not a symlink"));
  }
  return e.symlink_target();
}

absl::StatusOr<std::vector<std::string>> MountView::ListXattr(uint64_t ino) {
  ASSIGN_OR_RETURN(Where w, Locate(ino));
  std::vector<std::string> names;
  if (w.kind != Where::Kind::kNode) return names;
  ASSIGN_OR_RETURN(auto tn, NodeOf(ino));
  const v1::Entry& e = tn.first->node(tn.second).entry;
  for (const v1::Xattr& x : e.xattrs()) names.push_back(x.name());
  if (!e.acl_access().empty()) names.emplace_back(std::string(fs::kAclAccessXattr));
  if (!e.acl_default().empty()) names.emplace_back(std::string(fs::kAclDefaultXattr));
  return names;
}

absl::StatusOr<std::string> MountView::GetXattr(uint64_t ino, std::string_view name) {
  ASSIGN_OR_RETURN(Where w, Locate(ino));
  auto absent = [&] {
    return absl::NotFoundError(
        absl::StrCat("inode ", ino, " has no extended attribute '", absl::CEscape(std::string(name)), "'"));
  };
  if (w.kind != Where::Kind::kNode) return absent();
  ASSIGN_OR_RETURN(auto tn, NodeOf(ino));
  const v1::Entry& e = tn.first->node(tn.second).entry;
  if (name == std::string_view(fs::kAclAccessXattr.data(), fs::kAclAccessXattr.size())) {
    if (e.acl_access().empty()) return absent();
    return fs::EncodePosixAclXattr(e.acl_access());
  }
  if (name == std::string_view(fs::kAclDefaultXattr.data(), fs::kAclDefaultXattr.size())) {
    if (e.acl_default().empty()) return absent();
    return fs::EncodePosixAclXattr(e.acl_default());
  }
  for (const v1::Xattr& x : e.xattrs()) {
    if (x.name() == name) return x.value();
  }
  return absent();
}

absl::StatusOr<std::shared_ptr<const ChunkIndex>> MountView::PayloadIndex(uint32_t slot) {
  if (auto it = payload_indexes_.find(slot); it != payload_indexes_.end()) {
    if (std::shared_ptr<const ChunkIndex> p = it->second.lock()) return p;
  }
  const std::string& id = snapshots_[slot].id();
  ASSIGN_OR_RETURN(LoadedSnapshot loaded, repo_.LoadSnapshot(id));
  ASSIGN_OR_RETURN(ChunkIndex index,
                   ChunkIndex::Decode(AsBytes(loaded.payload_index), v1::STREAM_KIND_PAYLOAD,
                                      absl::StrCat(id, "/payload.aidx")));
  auto p = std::make_shared<const ChunkIndex>(std::move(index));
  // Forget indexes no open file uses any more.
  std::erase_if(payload_indexes_, [](const auto& kv) { return kv.second.expired(); });
  payload_indexes_[slot] = p;
  return p;
}

absl::StatusOr<uint64_t> MountView::Open(uint64_t ino) {
  ASSIGN_OR_RETURN(Where w, Locate(ino));
  if (w.kind != Where::Kind::kNode) {
    return absl::FailedPreconditionError(absl::StrCat("inode ", ino, " is not a regular file"));
  }
  ASSIGN_OR_RETURN(auto tn, NodeOf(ino));
  const TreeNode& n = tn.first->node(tn.second);
  if (n.entry.type() != v1::ENTRY_TYPE_REGULAR) {
    return absl::FailedPreconditionError(absl::StrCat("inode ", ino, " is not a regular file"));
  }
  // The path for messages: walk up to the root.
  std::string path = n.name;
  for (uint32_t p = n.parent; p != 0; p = tn.first->node(p).parent) {
    path = absl::StrCat(tn.first->node(p).name, "/", path);
  }
  std::string what = absl::StrCat("snapshot ", snapshots_[w.index].id(), ", file '", path, "'");
  std::shared_ptr<const ChunkIndex> index;
  if (n.entry.size() > 0) {
    ASSIGN_OR_RETURN(index, PayloadIndex(w.index));
  } else {
    index = std::make_shared<const ChunkIndex>();
  }
  Handle h;
  h.read_ahead = n.entry.size() > 0 && read_ahead_files_ < options_.max_read_ahead_files;
  ReadAhead ra = h.read_ahead ? options_.read_ahead : ReadAhead{0, 0};
  h.reader = std::make_unique<FileReader>(n.entry, std::move(index), chunks_.get(), ra,
                                          std::move(what));
  if (h.read_ahead) ++read_ahead_files_;
  const uint64_t handle = next_handle_++;
  handles_.emplace(handle, std::move(h));
  return handle;
}

absl::StatusOr<size_t> MountView::Read(uint64_t handle, uint64_t offset, std::span<uint8_t> out) {
  auto it = handles_.find(handle);
  if (it == handles_.end()) {
    return absl::NotFoundError(absl::StrCat("no open file with handle ", handle));
  }
  return it->second.reader->Read(offset, out);
}

void MountView::Release(uint64_t handle) {
  auto it = handles_.find(handle);
  if (it == handles_.end()) return;
  if (it->second.read_ahead) --read_ahead_files_;
  handles_.erase(it);
}

}  // namespace arca::mount
