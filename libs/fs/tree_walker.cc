#include "libs/fs/tree_walker.h"

#include <sys/stat.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "libs/fs/posix_acl.h"

namespace arca::fs {
namespace {

void FillStatFields(const StatInfo& st, v1::Entry* entry) {
  entry->set_mode(st.mode & 07777);
  entry->set_uid(st.uid);
  entry->set_gid(st.gid);
  entry->set_mtime_ns(st.mtime_ns);
  entry->set_atime_ns(st.atime_ns);
  entry->set_ctime_ns(st.ctime_ns);
  entry->set_dev(st.dev);
  entry->set_ino(st.ino);
  entry->set_nlink(static_cast<uint32_t>(st.nlink));
}

}  // namespace

TreeWalker::TreeWalker(FileSystem* fs, std::string root, WalkOptions options)
    : fs_(fs), root_(std::move(root)), options_(options) {}

absl::StatusOr<std::unique_ptr<TreeWalker>> TreeWalker::Open(FileSystem* fs, std::string root,
                                                             WalkOptions options) {
  if (root.empty()) {
    return absl::InvalidArgumentError("source path is empty");
  }
  while (root.size() > 1 && root.back() == '/') root.pop_back();

  absl::StatusOr<StatInfo> st = fs->Lstat(root);
  if (!st.ok()) {
    if (absl::IsNotFound(st.status())) {
      return absl::NotFoundError(absl::StrCat("source ", root, " does not exist"));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("source ", root, " cannot be read: ", st.status().message()));
  }
  // The path used for the root's own calls: a symlink given as the source
  // is followed ("link/" resolves it) so that its directory is backed up.
  std::string root_access = root;
  if (S_ISLNK(st->mode)) {
    absl::StatusOr<StatInfo> target = fs->Lstat(root + "/");
    if (target.ok()) {
      st = target;
      root_access = root + "/";
    }
  }
  if (!S_ISDIR(st->mode)) {
    return absl::FailedPreconditionError(absl::StrCat("source ", root, " is not a directory"));
  }
  absl::StatusOr<std::vector<std::string>> names = fs->ListDirectory(root_access);
  if (!names.ok()) {
    if (absl::IsNotFound(names.status())) {
      return absl::NotFoundError(absl::StrCat("source ", root, " does not exist"));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("source ", root, " cannot be read: ", names.status().message()));
  }
  std::unique_ptr<TreeWalker> walker(new TreeWalker(fs, std::move(root), options));
  walker->root_access_ = std::move(root_access);
  walker->root_stat_ = *st;
  walker->root_dev_ = st->dev;
  if (!names->empty()) {
    Frame& frame = walker->stack_.emplace_back();
    frame.names = *std::move(names);
  }
  return walker;
}

std::string TreeWalker::AbsolutePath(absl::string_view rel_path) const {
  if (rel_path.empty()) return root_;
  if (root_ == "/") return absl::StrCat("/", rel_path);
  return absl::StrCat(root_, "/", rel_path);
}

void TreeWalker::SetAbsolutePath(absl::string_view rel_path) {
  abs_path_.assign(root_);
  if (rel_path.empty()) return;
  if (root_ != "/") abs_path_.push_back('/');
  abs_path_.append(rel_path.data(), rel_path.size());
}

void TreeWalker::Warn(absl::string_view rel_path, std::string message, bool data_missing) {
  v1::Warning& w = warnings_.emplace_back();
  w.set_data_missing(data_missing);
  w.set_phase(v1::PHASE_COLLECTION);
  w.set_path(std::string(rel_path));
  w.set_message(std::move(message));
}

std::vector<v1::Warning> TreeWalker::TakeWarnings() {
  std::vector<v1::Warning> out = std::move(warnings_);
  warnings_.clear();
  return out;
}

absl::StatusOr<bool> TreeWalker::Next(v1::Entry* entry) {
  if (!root_emitted_) {
    root_emitted_ = true;
    entry->Clear();
    entry->set_path("");
    entry->set_type(v1::ENTRY_TYPE_DIRECTORY);
    FillStatFields(root_stat_, entry);
    abs_path_ = root_access_;
    rel_path_.clear();
    if (!FillXattrs(rel_path_, entry)) {
      return absl::NotFoundError(absl::StrCat("source ", root_, " vanished during the backup"));
    }
    return true;
  }
  while (!stack_.empty()) {
    Frame& frame = stack_.back();
    if (frame.next >= frame.names.size()) {
      stack_.pop_back();
      continue;
    }
    const std::string& name = frame.names[frame.next++];
    if (frame.rel_path.empty()) {
      rel_path_.assign(name);
    } else {
      rel_path_.assign(frame.rel_path);
      rel_path_.push_back('/');
      rel_path_.append(name);
    }
    SetAbsolutePath(rel_path_);
    absl::StatusOr<StatInfo> st = fs_->Lstat(abs_path_);
    if (!st.ok()) {
      if (absl::IsNotFound(st.status())) {
        Warn(rel_path_, absl::StrCat(abs_path_,
                                     " vanished after its directory was "
                                     "listed; not stored"));
      } else {
        Warn(rel_path_, absl::StrCat(st.status().message(), "; not stored"));
      }
      continue;
    }
    const bool is_dir = S_ISDIR(st->mode);
    if (options_.excludes != nullptr && options_.excludes->Matches(rel_path_, is_dir)) {
      continue;
    }
    if (!FillEntry(rel_path_, *st, entry)) continue;
    if (is_dir) Descend(rel_path_, *st);  // may reallocate stack_
    return true;
  }
  return false;
}

bool TreeWalker::FillEntry(const std::string& rel_path, const StatInfo& st, v1::Entry* entry) {
  entry->Clear();
  entry->set_path(rel_path);
  FillStatFields(st, entry);
  const uint32_t type = st.mode & S_IFMT;
  bool record_link = false;
  switch (type) {
    case S_IFREG:
      if (st.nlink > 1) {
        auto it = links_.find(std::make_pair(st.dev, st.ino));
        if (it != links_.end()) {
          entry->set_type(v1::ENTRY_TYPE_HARDLINK);
          entry->set_hardlink_target(it->second);
          return true;  // size, xattrs and ACLs belong to the first name
        }
        record_link = true;
      }
      entry->set_type(v1::ENTRY_TYPE_REGULAR);
      entry->set_size(st.size);
      break;
    case S_IFDIR:
      entry->set_type(v1::ENTRY_TYPE_DIRECTORY);
      break;
    case S_IFLNK: {
      entry->set_type(v1::ENTRY_TYPE_SYMLINK);
      entry->set_size(st.size);
      absl::StatusOr<std::string> target = fs_->ReadLink(abs_path_);
      if (!target.ok()) {
        Warn(
            rel_path,
            absl::StrCat(target.status().message(),
                         absl::IsNotFound(target.status()) ? " (vanished after it was listed)" : "",
                         "; not stored"));
        return false;
      }
      entry->set_symlink_target(*std::move(target));
      break;
    }
    case S_IFIFO:
      entry->set_type(v1::ENTRY_TYPE_FIFO);
      break;
    case S_IFCHR:
      entry->set_type(v1::ENTRY_TYPE_CHAR_DEVICE);
      entry->set_rdev(st.rdev);
      break;
    case S_IFBLK:
      entry->set_type(v1::ENTRY_TYPE_BLOCK_DEVICE);
      entry->set_rdev(st.rdev);
      break;
    case S_IFSOCK:
      Warn(rel_path,
           absl::StrCat(abs_path_,
                        " is a socket; sockets cannot be backed up "
                        "and are skipped"),
           /*data_missing=*/false);
      return false;
    default:
      Warn(rel_path,
           absl::StrCat(abs_path_, " has unknown file type 0", absl::Hex(type), "; skipped"));
      return false;
  }
  if (!(options_.known_xattrs && options_.known_xattrs(entry)) && !FillXattrs(rel_path, entry)) {
    return false;
  }
  if (record_link) links_.emplace(std::make_pair(st.dev, st.ino), rel_path);
  return true;
}

bool TreeWalker::FillXattrs(const std::string& rel_path, v1::Entry* entry) {
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> xattrs =
      fs_->GetXattrs(abs_path_);
  if (!xattrs.ok()) {
    if (absl::IsNotFound(xattrs.status())) {
      Warn(rel_path, absl::StrCat(xattrs.status().message(),
                                  " (vanished after it was listed); not "
                                  "stored"));
      return false;
    }
    Warn(rel_path, absl::StrCat(xattrs.status().message(),
                                "; stored without extended attributes and "
                                "ACLs"));
    return true;
  }
  for (auto& [name, value] : *xattrs) {
    if (name == kAclAccessXattr || name == kAclDefaultXattr) {
      const bool access = name == kAclAccessXattr;
      auto* acl = access ? entry->mutable_acl_access() : entry->mutable_acl_default();
      absl::Status parsed = ParsePosixAclXattr(value, acl);
      if (!parsed.ok()) {
        Warn(rel_path,
             absl::StrCat(abs_path_, ": ", name, ": ", parsed.message(), "; ACL not stored"));
      }
      continue;
    }
    v1::Xattr* x = entry->add_xattrs();
    x->set_name(std::move(name));
    x->set_value(std::move(value));
  }
  return true;
}

void TreeWalker::Descend(const std::string& rel_path, const StatInfo& st) {
  if (options_.one_file_system && st.dev != root_dev_) return;
  absl::StatusOr<std::vector<std::string>> names = fs_->ListDirectory(abs_path_);
  if (!names.ok()) {
    Warn(rel_path, absl::StrCat(names.status().message(), "; the directory is stored empty"));
    return;
  }
  if (names->empty()) return;
  Frame& frame = stack_.emplace_back();
  frame.rel_path = rel_path;
  frame.names = *std::move(names);
}

}  // namespace arca::fs
