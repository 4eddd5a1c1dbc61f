#include "libs/restore/tree_writer.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libs/base/status_macros.h"
#include "libs/fs/posix_acl.h"

namespace arca {
namespace {

constexpr char kAclAccess[] = "system.posix_acl_access";
constexpr char kAclDefault[] = "system.posix_acl_default";

// A path for messages: bytes as they are, control characters escaped.
std::string Shown(absl::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7f) {
      absl::StrAppendFormat(&out, "\\x%02x", c);
    } else if (c == '\\') {
      out += "\\\\";
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// What the operator can do about a failed call.
const char* Advice(int err, absl::StatusCode code) {
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return "free space on the target file system and retry";
    case EACCES:
    case EPERM:
      return "run the restore as root or choose a target you may write";
    case EROFS:
      return "the target file system is read-only; choose another target";
    case ENAMETOOLONG:
      return "the target file system does not accept this name";
    case 0:
      break;
    default:
      return "check the target file system";
  }
  switch (code) {  // a status without an errno (fs::StatusErrno gives 0)
    case absl::StatusCode::kResourceExhausted:
      return "free space on the target file system and retry";
    case absl::StatusCode::kPermissionDenied:
      return "run the restore as root or choose a target you may write";
    default:
      return "check the target file system";
  }
}

// The system error behind a failed file-system call: strerror of its errno,
// or its message when it carries none.
std::string SystemError(const absl::Status& status) {
  const int err = fs::StatusErrno(status);
  if (err != 0) return strerror(err);
  return std::string(status.message());
}

// A failed file-system call, as the restore reports it: the code of the
// call's status (the errno mapping of writable_file_system.h), "<what>:
// <system error>; <advice>". `what` names the restored path and the target.
absl::Status FsError(const absl::Status& status, const std::string& what) {
  return absl::Status(status.code(), absl::StrCat(what, ": ", SystemError(status), "; ",
                                                  Advice(fs::StatusErrno(status), status.code())));
}

// Splits a stored path into components; "" is the root (no components).
absl::StatusOr<std::vector<std::string>> SplitStoredPath(const std::string& path,
                                                         const std::string& target) {
  std::vector<std::string> out;
  if (path.empty()) return out;
  auto refuse = [&]() {
    return absl::InvalidArgumentError(
        absl::StrCat("refusing to restore '", Shown(path), "': it would write outside ", target,
                     " (stored paths must be relative, '/'-separated, without "
                     "empty, '.' or '..' components or NUL bytes; the snapshot "
                     "is damaged or hostile)"));
  };
  if (path.find('\0') != std::string::npos) return refuse();
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    std::string comp =
        path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (comp.empty() || comp == "." || comp == "..") return refuse();
    out.push_back(std::move(comp));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return out;
}

// The data bytes a regular file's entry declares: its extents' when sparse.
uint64_t DeclaredBytes(const v1::Entry& e) {
  if (!e.sparse()) return e.size();
  uint64_t n = 0;
  for (const v1::Extent& x : e.extents()) n += x.length();
  return n;
}

// atime 0 means "not captured": leave it as the restore set it.
std::optional<int64_t> EntryAtime(const v1::Entry& e) {
  if (e.atime_ns() == 0) return std::nullopt;
  return e.atime_ns();
}

bool IsXattrWarning(int err) {
  return err == ENOTSUP || err == EPERM || err == E2BIG || err == ERANGE;
}

const char* TypeName(v1::EntryType t) {
  switch (t) {
    case v1::ENTRY_TYPE_REGULAR:
      return "regular file";
    case v1::ENTRY_TYPE_DIRECTORY:
      return "directory";
    case v1::ENTRY_TYPE_SYMLINK:
      return "symlink";
    case v1::ENTRY_TYPE_HARDLINK:
      return "hardlink";
    case v1::ENTRY_TYPE_FIFO:
      return "fifo";
    case v1::ENTRY_TYPE_CHAR_DEVICE:
      return "character device";
    case v1::ENTRY_TYPE_BLOCK_DEVICE:
      return "block device";
    case v1::ENTRY_TYPE_SOCKET:
      return "socket";
    default:
      return "unknown type";
  }
}

}  // namespace

absl::StatusOr<OverwritePolicy> ParseOverwritePolicy(absl::string_view word) {
  if (word == "always") return OverwritePolicy::kAlways;
  if (word == "if-changed") return OverwritePolicy::kIfChanged;
  if (word == "never") return OverwritePolicy::kNever;
  return absl::InvalidArgumentError(absl::StrCat("invalid --overwrite '", Shown(word),
                                                 "': use never, if-changed or always"));
}

const char* OverwritePolicyName(OverwritePolicy policy) {
  switch (policy) {
    case OverwritePolicy::kAlways:
      return "always";
    case OverwritePolicy::kIfChanged:
      return "if-changed";
    case OverwritePolicy::kNever:
      return "never";
  }
  return "always";
}

absl::StatusOr<OverwritePolicy> OverwritePolicyFromProto(int value) {
  switch (value) {
    case v1::OVERWRITE_UNSPECIFIED:
    case v1::OVERWRITE_ALWAYS:
      return OverwritePolicy::kAlways;
    case v1::OVERWRITE_IF_CHANGED:
      return OverwritePolicy::kIfChanged;
    case v1::OVERWRITE_NEVER:
      return OverwritePolicy::kNever;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "overwrite ", value, " is not a known policy: use OVERWRITE_ALWAYS (1), "
          "OVERWRITE_IF_CHANGED (2) or OVERWRITE_NEVER (3)"));
  }
}

v1::Overwrite OverwritePolicyToProto(OverwritePolicy policy) {
  switch (policy) {
    case OverwritePolicy::kAlways:
      return v1::OVERWRITE_ALWAYS;
    case OverwritePolicy::kIfChanged:
      return v1::OVERWRITE_IF_CHANGED;
    case OverwritePolicy::kNever:
      return v1::OVERWRITE_NEVER;
  }
  return v1::OVERWRITE_ALWAYS;
}

absl::StatusOr<TreeWriterOptions> MakeTreeWriterOptions(OverwritePolicy overwrite,
                                                        bool delete_extraneous,
                                                        const std::vector<std::string>& includes) {
  TreeWriterOptions out;
  out.overwrite = overwrite;
  out.delete_extraneous = delete_extraneous;
  if (delete_extraneous && !includes.empty()) {
    ASSIGN_OR_RETURN(out.delete_scope, fs::PathMatcher::Create(includes));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<TreeWriter>> TreeWriter::Open(const std::string& target,
                                                             fs::WritableFileSystem* file_system,
                                                             TreeWriterOptions options) {
  if (target.empty()) {
    return absl::InvalidArgumentError("restore target is empty; name a directory to restore into");
  }
  fs::WritableFileSystem* const wfs =
      file_system != nullptr ? file_system : fs::DefaultWritableFileSystem();
  absl::StatusOr<std::optional<fs::StatInfo>> st = wfs->Stat(target);
  if (!st.ok()) {
    return FsError(st.status(), absl::StrCat("cannot inspect restore target ", target));
  }
  const bool existed = st->has_value();
  if (existed && options.delete_extraneous) {
    absl::StatusOr<std::optional<fs::StatInfo>> root = wfs->Stat("/");
    if (root.ok() && root->has_value() && (*root)->dev == (*st)->dev &&
        (*root)->ino == (*st)->ino) {
      return absl::InvalidArgumentError(absl::StrCat(
          "refusing --delete with restore target ", target,
          ": it is the root directory, and everything the snapshot does not have would be "
          "removed; restore into another directory, or without --delete"));
    }
  }
  if (st->has_value()) {
    if (!S_ISDIR((*st)->mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat("restore target ", target,
                       " exists and is not a directory; remove it or choose "
                       "another target"));
    }
  } else {
    // mkdir -p, 0700: the root entry's metadata fixes the last one at Finish.
    for (size_t pos = 1; pos <= target.size(); ++pos) {
      if (pos != target.size() && target[pos] != '/') continue;
      std::string prefix = target.substr(0, pos);
      absl::Status made = wfs->MakeDirectory(prefix, 0700);
      if (!made.ok() && fs::StatusErrno(made) != EEXIST) {
        return FsError(
            made, absl::StrCat("cannot create directory ", prefix, " for restore target ", target));
      }
    }
  }
  absl::StatusOr<std::unique_ptr<fs::WritableDirectory>> root = wfs->OpenDirectory(target);
  if (!root.ok()) {
    if (fs::StatusErrno(root.status()) == ENOTDIR) {
      return absl::FailedPreconditionError(
          absl::StrCat("restore target ", target,
                       " is not a directory; remove it or choose another "
                       "target"));
    }
    return FsError(root.status(), absl::StrCat("cannot open restore target ", target));
  }
  return std::unique_ptr<TreeWriter>(
      new TreeWriter(target, *std::move(root), std::move(options), existed));
}

namespace {

// A default ACL is in effect in `dir` (a size query: errors mean no).
bool HasDefaultAcl(fs::WritableDirectory& dir) {
  absl::StatusOr<size_t> size = dir.XattrSize(kAclDefault);
  return size.ok() && *size > 0;
}

}  // namespace

TreeWriter::TreeWriter(std::string target, std::unique_ptr<fs::WritableDirectory> root_dir,
                       TreeWriterOptions options, bool target_existed)
    : target_(std::move(target)),
      options_(std::move(options)),
      target_existed_(target_existed),
      compare_owner_(::geteuid() == 0) {
  DirLevel root;
  root.dir = std::move(root_dir);
  root.inherits_acl = HasDefaultAcl(*root.dir);
  stack_.push_back(std::move(root));
}

TreeWriter::~TreeWriter() = default;

std::string TreeWriter::StackPath() const {
  std::string out;
  for (size_t i = 1; i < stack_.size(); ++i) {
    if (i > 1) out += '/';
    out += stack_[i].name;
  }
  return out;
}

void TreeWriter::PopTo(size_t depth) {
  while (stack_.size() > depth + 1) stack_.pop_back();
}

absl::Status TreeWriter::ChangeDir(const std::vector<std::string>& components, bool create,
                                   bool* blocked) {
  if (blocked != nullptr) *blocked = false;
  size_t common = 0;
  while (common < components.size() && common + 1 < stack_.size() &&
         stack_[common + 1].name == components[common]) {
    ++common;
  }
  PopTo(common);
  for (size_t i = common; i < components.size(); ++i) {
    const std::string& name = components[i];
    fs::WritableDirectory& parent = top();
    auto shown = [&]() {
      std::string p = StackPath();
      return Shown(p.empty() ? name : absl::StrCat(p, "/", name));
    };
    absl::StatusOr<std::unique_ptr<fs::WritableDirectory>> dir = parent.OpenDirectory(name);
    if (!dir.ok() && create) {
      const int err = fs::StatusErrno(dir.status());
      bool replace = false;
      if (err == ELOOP || err == ENOTDIR) {
        absl::StatusOr<std::optional<fs::StatInfo>> st = parent.Lstat(name);
        if (st.ok() && st->has_value() && !S_ISDIR((*st)->mode)) {
          replace = true;  // a symlink or file where a directory must be
        }
      }
      if (replace && blocked != nullptr && options_.overwrite == OverwritePolicy::kNever) {
        *blocked = true;  // kept: nothing is created below it
        return absl::OkStatus();
      }
      if (replace) {
        absl::Status removed = parent.Unlink(name);
        if (!removed.ok()) {
          return FsError(removed, absl::StrCat("cannot remove '", shown(), "' in ", target_,
                                               " to make room for a directory"));
        }
      }
      if (replace || err == ENOENT) {
        absl::Status made = parent.MakeDirectory(name, 0700);
        if (!made.ok() && fs::StatusErrno(made) != EEXIST) {
          return FsError(made,
                         absl::StrCat("cannot create directory '", shown(), "' in ", target_));
        }
        dir = parent.OpenDirectory(name);
      }
    }
    if (!dir.ok()) {
      return FsError(dir.status(),
                     absl::StrCat("cannot open directory '", shown(), "' in ", target_));
    }
    DirLevel level;
    level.name = name;
    level.dir = *std::move(dir);
    level.inherits_acl = HasDefaultAcl(*level.dir);
    stack_.push_back(std::move(level));
  }
  return absl::OkStatus();
}

absl::Status TreeWriter::ClearName(const std::string& name, const std::string& path, bool* is_dir,
                                   bool remove_empty_dir) {
  if (is_dir != nullptr) *is_dir = false;
  absl::StatusOr<std::optional<fs::StatInfo>> st = top().Lstat(name);
  if (!st.ok()) {
    return FsError(st.status(), absl::StrCat("cannot inspect '", Shown(path), "' in ", target_));
  }
  if (!st->has_value()) return absl::OkStatus();
  if (S_ISDIR((*st)->mode)) {
    if (is_dir != nullptr) {
      *is_dir = true;
      return absl::OkStatus();
    }
    std::string why = strerror(ENOTEMPTY);
    if (remove_empty_dir) {
      absl::Status removed = top().RemoveDirectory(name);
      if (removed.ok()) return absl::OkStatus();
      why = SystemError(removed);
    }
    return absl::FailedPreconditionError(
        absl::StrCat("a directory stands at '", Shown(path), "' in ", target_,
                     " where the snapshot has a non-directory and it cannot be removed (", why,
                     "); remove it, or restore into an empty directory"));
  }
  absl::Status removed = top().Unlink(name);
  if (!removed.ok() && fs::StatusErrno(removed) != ENOENT) {
    return FsError(removed,
                   absl::StrCat("cannot remove existing '", Shown(path), "' in ", target_));
  }
  return absl::OkStatus();
}

absl::Status TreeWriter::BeginEntry(const v1::Entry& entry) {
  if (finished_) {
    return absl::FailedPreconditionError(
        absl::StrCat("BeginEntry('", Shown(entry.path()), "') after Finish; use a new TreeWriter"));
  }
  if (in_entry_) {
    return absl::FailedPreconditionError(absl::StrCat("BeginEntry('", Shown(entry.path()),
                                                      "') while '", Shown(current_.path()),
                                                      "' is not finished; call FinishEntry first"));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> components, SplitStoredPath(entry.path(), target_));
  const v1::EntryType type = entry.type();
  switch (type) {
    case v1::ENTRY_TYPE_REGULAR:
    case v1::ENTRY_TYPE_DIRECTORY:
    case v1::ENTRY_TYPE_SYMLINK:
    case v1::ENTRY_TYPE_HARDLINK:
    case v1::ENTRY_TYPE_FIFO:
    case v1::ENTRY_TYPE_CHAR_DEVICE:
    case v1::ENTRY_TYPE_BLOCK_DEVICE:
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("cannot restore '", Shown(entry.path()), "': entry type ", TypeName(type),
                       " (", static_cast<int>(type),
                       ") is not restorable; the snapshot is damaged or from a newer "
                       "arca"));
  }
  if (components.empty()) {
    if (type != v1::ENTRY_TYPE_DIRECTORY) {
      return absl::InvalidArgumentError(absl::StrCat("cannot restore the root entry into ", target_,
                                                     ": it is a ", TypeName(type),
                                                     ", not a directory; the snapshot is damaged"));
    }
    current_ = entry;
    current_name_.clear();
    in_entry_ = true;
    skipped_entry_ = false;
    keep_ = false;
    if (options_.delete_extraneous) seen_paths_.insert(entry.path());
    root_entry_ = entry;
    have_root_entry_ = true;
    if (options_.overwrite == OverwritePolicy::kNever && target_existed_) {
      root_kept_ = true;  // the existing target keeps its metadata
      Keep();
    }
    return absl::OkStatus();
  }

  std::string name = components.back();
  components.pop_back();
  bool blocked = false;
  RETURN_IF_ERROR(ChangeDir(components, /*create=*/true, &blocked));
  current_ = entry;
  current_name_ = name;
  skipped_entry_ = false;
  keep_ = false;
  file_ = OpenFile();
  if (options_.delete_extraneous) seen_paths_.insert(entry.path());
  if (blocked) {
    // kNever: a kept non-directory stands where a parent must be.
    if (type == v1::ENTRY_TYPE_REGULAR) {
      if (entry.nlink() != 1) unlinkable_kept_.insert(entry.path());
      file_.declared = DeclaredBytes(entry);
    }
    Keep();
    in_entry_ = true;
    return absl::OkStatus();
  }
  absl::Status status;
  switch (type) {
    case v1::ENTRY_TYPE_REGULAR:
      status = BeginRegular(name);
      break;
    case v1::ENTRY_TYPE_DIRECTORY:
      components.push_back(name);
      status = BeginDirectory(name, components);
      break;
    case v1::ENTRY_TYPE_HARDLINK:
      status = BeginHardlink(name);
      break;
    case v1::ENTRY_TYPE_SYMLINK:
      status = BeginNode(name, S_IFLNK);
      break;
    case v1::ENTRY_TYPE_FIFO:
      status = BeginNode(name, S_IFIFO);
      break;
    case v1::ENTRY_TYPE_CHAR_DEVICE:
      status = BeginNode(name, S_IFCHR);
      break;
    case v1::ENTRY_TYPE_BLOCK_DEVICE:
      status = BeginNode(name, S_IFBLK);
      break;
    default:
      break;
  }
  if (!status.ok()) {
    file_ = OpenFile();  // closes a file BeginRegular opened
    return status;
  }
  in_entry_ = true;
  return absl::OkStatus();
}

absl::Status TreeWriter::BeginRegular(const std::string& name) {
  const v1::Entry& e = current_;
  uint64_t declared = e.size();
  if (e.sparse()) {
    declared = 0;
    uint64_t prev_end = 0;
    for (int i = 0; i < e.extents_size(); ++i) {
      const v1::Extent& x = e.extents(i);
      if (x.offset() < prev_end || x.length() > e.size() || x.offset() > e.size() - x.length()) {
        return absl::InvalidArgumentError(
            absl::StrFormat("cannot restore '%s': extent %d [%d, +%d) overlaps the previous "
                            "one or lies beyond the file size %d; the snapshot's metadata is "
                            "damaged (run arca verify)",
                            Shown(e.path()), i, x.offset(), x.length(), e.size()));
      }
      prev_end = x.offset() + x.length();
      declared += x.length();
    }
  }
  if (options_.overwrite != OverwritePolicy::kAlways) {
    absl::StatusOr<std::optional<fs::StatInfo>> st = top().Lstat(name);
    if (!st.ok()) {
      return FsError(st.status(), absl::StrCat("cannot inspect '", Shown(e.path()), "' in ", target_));
    }
    if (st->has_value()) {
      ASSIGN_OR_RETURN(bool keep, KeepExisting(name, **st));
      if (keep) {
        if (e.nlink() != 1) {
          if (S_ISREG((*st)->mode)) {
            RememberInode((*st)->dev, (*st)->ino);
          } else {
            unlinkable_kept_.insert(e.path());
          }
        }
        Keep();
        file_.declared = declared;
        return absl::OkStatus();
      }
    }
  }
  RETURN_IF_ERROR(ClearName(name, e.path(), nullptr, /*remove_empty_dir=*/true));
  absl::StatusOr<std::unique_ptr<fs::WritableFile>> file = top().CreateFile(name, 0600);
  if (!file.ok()) {
    return FsError(file.status(),
                   absl::StrCat("cannot create file '", Shown(e.path()), "' in ", target_));
  }
  file_ = OpenFile();
  file_.file = *std::move(file);
  file_.declared = declared;
  return absl::OkStatus();
}

absl::Status TreeWriter::BeginDirectory(const std::string& name,
                                        const std::vector<std::string>& components) {
  bool is_dir = false;
  if (options_.overwrite == OverwritePolicy::kNever) {
    absl::StatusOr<std::optional<fs::StatInfo>> st = top().Lstat(name);
    if (!st.ok()) {
      return FsError(st.status(),
                     absl::StrCat("cannot inspect '", Shown(current_.path()), "' in ", target_));
    }
    if (st->has_value()) {
      // Kept: a directory is reused without its metadata; below a
      // non-directory nothing is created (ChangeDir reports it blocked).
      Keep();
      if (S_ISDIR((*st)->mode)) {
        PendingDir pending;
        pending.entry = current_;
        pending.depth = components.size();
        pending.apply = false;
        pending_dirs_.push_back(std::move(pending));
      }
      return absl::OkStatus();
    }
  }
  RETURN_IF_ERROR(ClearName(name, current_.path(), &is_dir, false));
  if (!is_dir) {
    absl::Status made = top().MakeDirectory(name, 0700);
    if (!made.ok()) {
      return FsError(made, absl::StrCat("cannot create directory '", Shown(current_.path()),
                                        "' in ", target_));
    }
  }
  PendingDir pending;
  pending.entry = current_;
  pending.depth = components.size();
  pending.compare = is_dir && options_.overwrite == OverwritePolicy::kIfChanged;
  pending_dirs_.push_back(std::move(pending));
  return absl::OkStatus();
}

absl::Status TreeWriter::BeginHardlink(const std::string& name) {
  const v1::Entry& e = current_;
  ASSIGN_OR_RETURN(std::vector<std::string> tc, SplitStoredPath(e.hardlink_target(), target_));
  if (tc.empty() || e.hardlink_target() == e.path()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "refusing to restore hardlink '", Shown(e.path()), "' -> '", Shown(e.hardlink_target()),
        "': the link target must be another file of the snapshot; the "
        "snapshot is damaged"));
  }
  // Walk to the target's directory with lookup-only (O_PATH) handles, one at
  // a time.
  std::string tname = tc.back();
  tc.pop_back();
  std::unique_ptr<fs::WritableDirectory> owned;
  fs::WritableDirectory* tdir = stack_[0].dir.get();
  for (const std::string& comp : tc) {
    absl::StatusOr<std::unique_ptr<fs::WritableDirectory>> next =
        tdir->OpenDirectory(comp, fs::DirectoryAccess::kLookupOnly);
    if (!next.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot restore hardlink '", Shown(e.path()), "': its target '",
          Shown(e.hardlink_target()), "' was not restored earlier (", SystemError(next.status()),
          "); restore the first name of the hardlink group too"));
    }
    owned = *std::move(next);
    tdir = owned.get();
  }
  if (options_.overwrite != OverwritePolicy::kAlways) {
    if (unlinkable_kept_.contains(e.hardlink_target())) {
      Warn(e.path(), absl::StrCat("hardlink not restored: its first name '",
                                  Shown(e.hardlink_target()),
                                  "' was kept as it is in the target (--overwrite ",
                                  OverwritePolicyName(options_.overwrite),
                                  ") and is not a regular file to link to"));
      Keep();
      return absl::OkStatus();
    }
  }
  absl::StatusOr<std::optional<fs::StatInfo>> st = tdir->Lstat(tname);
  if (options_.overwrite != OverwritePolicy::kAlways) {
    absl::StatusOr<std::optional<fs::StatInfo>> here = top().Lstat(name);
    if (!here.ok()) {
      return FsError(here.status(),
                     absl::StrCat("cannot inspect '", Shown(e.path()), "' in ", target_));
    }
    // kNever: whatever is there; kIfChanged: already a name of the target.
    if (here->has_value() &&
        (options_.overwrite == OverwritePolicy::kNever ||
         (st.ok() && st->has_value() && (*here)->dev == (**st).dev &&
          (*here)->ino == (**st).ino))) {
      Keep();
      return absl::OkStatus();
    }
  }
  if (!st.ok() || !st->has_value() || S_ISDIR((*st)->mode) ||
      !link_inodes_.contains(std::make_pair((*st)->dev, (*st)->ino))) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot restore hardlink '", Shown(e.path()), "': its target '", Shown(e.hardlink_target()),
        "' was not restored earlier by this restore; restore the first name "
        "of the hardlink group too"));
  }
  RETURN_IF_ERROR(ClearName(name, e.path(), nullptr, true));
  absl::Status linked = top().Link(*tdir, tname, name);
  if (!linked.ok()) {
    return FsError(linked, absl::StrCat("cannot create hardlink '", Shown(e.path()), "' to '",
                                        Shown(e.hardlink_target()), "' in ", target_));
  }
  return absl::OkStatus();
}

absl::Status TreeWriter::BeginNode(const std::string& name, uint32_t type) {
  const v1::Entry& e = current_;
  if (options_.overwrite != OverwritePolicy::kAlways) {
    absl::StatusOr<std::optional<fs::StatInfo>> st = top().Lstat(name);
    if (!st.ok()) {
      return FsError(st.status(), absl::StrCat("cannot inspect '", Shown(e.path()), "' in ", target_));
    }
    if (st->has_value()) {
      ASSIGN_OR_RETURN(bool keep, KeepExisting(name, **st));
      if (keep) {
        Keep();
        return absl::OkStatus();
      }
    }
  }
  RETURN_IF_ERROR(ClearName(name, e.path(), nullptr, true));
  absl::Status made;
  if (type == S_IFLNK) {
    const std::string& t = e.symlink_target();
    if (t.empty() || t.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot restore symlink '", Shown(e.path()),
                       "': its target is empty or holds a NUL byte; the snapshot is "
                       "damaged"));
    }
    made = top().CreateSymlink(name, t);
  } else if (type == S_IFIFO) {
    made = top().CreateFifo(name, 0600);
  } else {
    made = top().CreateDevice(name, type, 0600, e.rdev());
    if (!made.ok() && fs::StatusErrno(made) == EPERM) {
      Warn(e.path(), absl::StrFormat("device node not restored: creating a %s "
                                     "(%d,%d) needs root (CAP_MKNOD)",
                                     TypeName(e.type()), major(e.rdev()), minor(e.rdev())));
      skipped_entry_ = true;
      return absl::OkStatus();
    }
  }
  if (!made.ok()) {
    return FsError(made, absl::StrCat("cannot create ", TypeName(e.type()), " '", Shown(e.path()),
                                      "' in ", target_));
  }
  return absl::OkStatus();
}

absl::Status TreeWriter::WriteAll(std::span<const uint8_t> data, uint64_t offset,
                                  const std::string& shown) {
  absl::Status written = file_.file->WriteAt(offset, data);
  if (!written.ok()) {
    return FsError(written, absl::StrCat("cannot write ", data.size(), " bytes at offset ", offset,
                                         " of '", shown, "'"));
  }
  return absl::OkStatus();
}

absl::Status TreeWriter::WriteData(std::span<const uint8_t> data) {
  if (in_entry_ && keep_ && current_.type() == v1::ENTRY_TYPE_REGULAR) {
    // A kept file: the data is checked against the entry and dropped.
    if (data.size() > file_.declared - file_.received) {
      return absl::DataLossError(absl::StrCat(
          "too much data for '", Shown(current_.path()), "': ", file_.received + data.size(),
          " bytes arrived but its entry declares ", file_.declared,
          "; the snapshot's payload does not match its metadata (run arca verify)"));
    }
    file_.received += data.size();
    return absl::OkStatus();
  }
  if (!in_entry_ || current_.type() != v1::ENTRY_TYPE_REGULAR || file_.file == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("WriteData without an open regular file (current entry '",
                     Shown(current_.path()), "'); call BeginEntry first"));
  }
  const v1::Entry& e = current_;
  if (data.size() > file_.declared - file_.received) {
    return absl::DataLossError(
        absl::StrCat("too much data for '", Shown(e.path()), "': ", file_.received + data.size(),
                     " bytes arrived but its entry declares ", file_.declared,
                     "; the snapshot's payload does not match its "
                     "metadata (run arca verify)"));
  }
  const std::string shown = Shown(e.path());
  if (!e.sparse()) {
    RETURN_IF_ERROR(WriteAll(data, file_.received, shown));
    file_.received += data.size();
    bytes_written_ += data.size();
    return absl::OkStatus();
  }
  while (!data.empty()) {
    while (file_.extent < e.extents_size() && file_.in_extent == e.extents(file_.extent).length()) {
      ++file_.extent;
      file_.in_extent = 0;
    }
    // declared covers every byte, so an extent with room exists here.
    const v1::Extent& x = e.extents(file_.extent);
    size_t n = static_cast<size_t>(std::min<uint64_t>(data.size(), x.length() - file_.in_extent));
    RETURN_IF_ERROR(WriteAll(data.first(n), x.offset() + file_.in_extent, shown));
    file_.in_extent += n;
    file_.received += n;
    bytes_written_ += n;
    data = data.subspan(n);
  }
  return absl::OkStatus();
}

std::pair<uint64_t, uint64_t> TreeWriter::FileOffsetOf(uint64_t data_offset) const {
  const v1::Entry& e = current_;
  if (!e.sparse()) return {data_offset, file_.declared - data_offset};
  // Extents are few (one per data region): a linear walk is enough.
  uint64_t start = 0;
  for (const v1::Extent& x : e.extents()) {
    if (data_offset < start + x.length()) {
      return {x.offset() + (data_offset - start), start + x.length() - data_offset};
    }
    start += x.length();
  }
  // At the end of the data: one past the last extent.
  if (e.extents_size() == 0) return {0, 0};
  const v1::Extent& last = e.extents(e.extents_size() - 1);
  return {last.offset() + last.length(), 0};
}

absl::Status TreeWriter::WriteDataAt(uint64_t data_offset, std::span<const uint8_t> data) {
  if (!in_entry_ || keep_ || current_.type() != v1::ENTRY_TYPE_REGULAR || file_.file == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("WriteDataAt without an open regular file (current entry '",
                     Shown(current_.path()), "'); call BeginEntry first"));
  }
  const std::string shown = Shown(current_.path());
  if (data_offset > file_.declared || data.size() > file_.declared - data_offset) {
    return absl::DataLossError(absl::StrCat(
        "too much data for '", shown, "': bytes [", data_offset, ", ", data_offset + data.size(),
        ") arrived but its entry declares ", file_.declared,
        "; the snapshot's payload does not match its metadata (run arca verify)"));
  }
  while (!data.empty()) {
    auto [at, room] = FileOffsetOf(data_offset);
    const size_t n = static_cast<size_t>(std::min<uint64_t>(data.size(), room));
    RETURN_IF_ERROR(WriteAll(data.first(n), at, shown));
    data_offset += n;
    data = data.subspan(n);
  }
  return absl::OkStatus();
}

absl::Status TreeWriter::EndParallelData(uint64_t intact) {
  if (!in_entry_ || keep_ || current_.type() != v1::ENTRY_TYPE_REGULAR || file_.file == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("EndParallelData without an open regular file (current entry '",
                     Shown(current_.path()), "'); call BeginEntry first"));
  }
  if (intact > file_.declared) {
    return absl::DataLossError(absl::StrCat("too much data for '", Shown(current_.path()), "': ",
                                            intact, " bytes but its entry declares ",
                                            file_.declared, " (run arca verify)"));
  }
  if (intact < file_.declared) {
    // Damage: keep exactly the intact prefix, as a sequential restore would.
    const uint64_t end = intact == 0 ? 0 : FileOffsetOf(intact - 1).first + 1;
    if (absl::Status s = file_.file->Truncate(end); !s.ok()) {
      return FsError(s, absl::StrCat("cannot cut '", Shown(current_.path()), "' to its intact ",
                                     end, " bytes"));
    }
  }
  file_.received = intact;
  bytes_written_ += intact;
  return absl::OkStatus();
}

absl::Status TreeWriter::FinishEntry() {
  if (!in_entry_) {
    return absl::FailedPreconditionError("FinishEntry without BeginEntry; call BeginEntry first");
  }
  if (keep_) {
    in_entry_ = false;
    keep_ = false;
    file_ = OpenFile();
    ++entries_skipped_;
    return absl::OkStatus();
  }
  absl::Status status;
  switch (current_.type()) {
    case v1::ENTRY_TYPE_REGULAR:
      status = FinishRegular();
      break;
    case v1::ENTRY_TYPE_SYMLINK:
    case v1::ENTRY_TYPE_FIFO:
    case v1::ENTRY_TYPE_CHAR_DEVICE:
    case v1::ENTRY_TYPE_BLOCK_DEVICE:
      if (!skipped_entry_) status = FinishNamed();
      break;
    default:  // directories (at Finish) and hardlinks (share an inode)
      break;
  }
  in_entry_ = false;
  if (status.ok() && !skipped_entry_) ++entries_written_;
  return status;
}

absl::Status TreeWriter::AbandonEntry() {
  if (!in_entry_) {
    return absl::FailedPreconditionError("AbandonEntry without BeginEntry; call BeginEntry first");
  }
  in_entry_ = false;
  if (keep_) {  // the existing file stays as it was
    keep_ = false;
    file_ = OpenFile();
    return absl::OkStatus();
  }
  if (current_.type() != v1::ENTRY_TYPE_REGULAR || file_.file == nullptr) {
    return absl::OkStatus();
  }
  std::unique_ptr<fs::WritableFile> file = std::move(file_.file);
  if (current_.nlink() != 1) {
    absl::StatusOr<fs::StatInfo> st = file->Stat();
    if (st.ok()) RememberInode(st->dev, st->ino);
  }
  if (absl::Status s = file->Close(); !s.ok()) {
    return FsError(
        s, absl::StrCat("cannot close '", Shown(current_.path()), "' after writing part of it"));
  }
  return absl::OkStatus();
}

absl::Status TreeWriter::SetOwner(fs::WritableNode& node, const v1::Entry& e,
                                  const std::string& what) {
  absl::Status owned = node.SetOwner(e.uid(), e.gid());
  if (owned.ok()) return absl::OkStatus();
  if (fs::StatusErrno(owned) != EPERM) return FsError(owned, what);
  Warn(e.path(), absl::StrFormat("owner %d:%d not restored: %s (needs root)", e.uid(), e.gid(),
                                 strerror(EPERM)));
  return absl::OkStatus();
}

absl::Status TreeWriter::FinishRegular() {
  // Closed on every return below; Close reports the error of the last one.
  std::unique_ptr<fs::WritableFile> file = std::move(file_.file);
  const v1::Entry& e = current_;
  const std::string shown = Shown(e.path());
  if (file_.received != file_.declared) {
    return absl::DataLossError(absl::StrCat("'", shown, "' ended after ", file_.received,
                                            " of its ", file_.declared,
                                            " data bytes; the snapshot's payload is incomplete "
                                            "(run arca verify)"));
  }
  if (absl::Status s = file->Truncate(e.size()); !s.ok()) {
    return FsError(s, absl::StrCat("cannot set the size of '", shown, "' to ", e.size()));
  }
  RETURN_IF_ERROR(SetOwner(*file, e, absl::StrCat("cannot set the owner of '", shown, "'")));
  RETURN_IF_ERROR(ApplyXattrs(*file, e, shown));
  RETURN_IF_ERROR(ApplyAcls(*file, false, stack_.back().inherits_acl, e, shown));
  if (absl::Status s = file->SetMode(e.mode() & 07777); !s.ok()) {
    return FsError(s, absl::StrFormat("cannot set mode %04o of '%s'", e.mode() & 07777, shown));
  }
  if (absl::Status s = file->SetTimes(EntryAtime(e), e.mtime_ns()); !s.ok()) {
    return FsError(s, absl::StrCat("cannot set the times of '", shown, "'"));
  }
  if (e.nlink() != 1) {
    absl::StatusOr<fs::StatInfo> st = file->Stat();
    if (st.ok()) RememberInode(st->dev, st->ino);
  }
  if (absl::Status s = file->Close(); !s.ok()) {
    return FsError(s, absl::StrCat("cannot close '", shown, "' after writing it"));
  }
  return absl::OkStatus();
}

absl::Status TreeWriter::FinishNamed() {
  const v1::Entry& e = current_;
  const std::string shown = Shown(e.path());
  const bool is_link = e.type() == v1::ENTRY_TYPE_SYMLINK;
  // The node itself (never followed): an O_PATH handle for the POSIX file
  // system.
  absl::StatusOr<std::unique_ptr<fs::WritableNode>> node = top().OpenNode(current_name_);
  if (!node.ok()) {
    return FsError(node.status(), absl::StrCat("cannot open ", TypeName(e.type()), " '", shown,
                                               "' just restored"));
  }
  absl::StatusOr<fs::StatInfo> st = (*node)->Stat();
  if (!st.ok()) return FsError(st.status(), absl::StrCat("cannot stat '", shown, "'"));
  uint32_t want = is_link                                  ? S_IFLNK
                  : e.type() == v1::ENTRY_TYPE_FIFO        ? S_IFIFO
                  : e.type() == v1::ENTRY_TYPE_CHAR_DEVICE ? S_IFCHR
                                                           : S_IFBLK;
  if ((st->mode & S_IFMT) != want) {
    return absl::AbortedError(
        absl::StrCat("'", shown, "' in ", target_,
                     " changed type while it was restored; something else writes to the "
                     "target: stop it and restore again"));
  }
  RETURN_IF_ERROR(SetOwner(**node, e, absl::StrCat("cannot set the owner of '", shown, "'")));
  RETURN_IF_ERROR(ApplyXattrs(**node, e, shown));
  if (!is_link) {
    RETURN_IF_ERROR(ApplyAcls(**node, false, stack_.back().inherits_acl, e, shown));
    if (absl::Status s = (*node)->SetMode(e.mode() & 07777); !s.ok()) {
      return FsError(s, absl::StrFormat("cannot set mode %04o of '%s'", e.mode() & 07777, shown));
    }
  }
  if (absl::Status s = (*node)->SetTimes(EntryAtime(e), e.mtime_ns()); !s.ok()) {
    return FsError(s, absl::StrCat("cannot set the times of '", shown, "'"));
  }
  if (e.nlink() != 1 && !is_link) RememberInode(st->dev, st->ino);
  return absl::OkStatus();
}

absl::Status TreeWriter::ApplyXattrs(fs::WritableNode& node, const v1::Entry& e,
                                     const std::string& shown) {
  for (const v1::Xattr& x : e.xattrs()) {
    if (x.name().empty() || x.name().find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot restore '", shown,
                       "': an extended attribute name is empty "
                       "or holds a NUL byte; the snapshot is damaged"));
    }
    absl::Status set = node.SetXattr(x.name(), x.value());
    if (set.ok()) continue;
    if (!IsXattrWarning(fs::StatusErrno(set))) {
      return FsError(set, absl::StrCat("cannot set extended attribute '", Shown(x.name()), "' on '",
                                       shown, "'"));
    }
    Warn(e.path(),
         absl::StrCat("extended attribute '", Shown(x.name()), "' not restored: ", SystemError(set),
                      " (the target file system or the node type "
                      "does not accept it)"));
  }
  return absl::OkStatus();
}

absl::Status TreeWriter::ApplyAcls(fs::WritableNode& node, bool is_dir, bool inherited,
                                   const v1::Entry& e, const std::string& shown) {
  struct Kind {
    const char* xattr;
    const google::protobuf::RepeatedPtrField<v1::AclEntry>* acl;
    bool applies;
  };
  const Kind kinds[] = {{kAclAccess, &e.acl_access(), true},
                        {kAclDefault, &e.acl_default(), is_dir}};
  for (const Kind& k : kinds) {
    if (!k.applies) {
      if (!k.acl->empty()) {
        Warn(e.path(), "default ACL ignored: only directories have one");
      }
      continue;
    }
    if (k.acl->empty()) {
      if (!inherited) continue;
      // Remove what a default ACL of the parent (or an earlier tree) put
      // there: the snapshot says there is none.
      absl::Status removed = node.RemoveXattr(k.xattr);
      const int err = fs::StatusErrno(removed);
      if (!removed.ok() && err != ENODATA && err != ENOTSUP) {
        return FsError(removed,
                       absl::StrCat("cannot remove inherited ", k.xattr, " from '", shown, "'"));
      }
      continue;
    }
    absl::Status set = node.SetXattr(k.xattr, fs::EncodePosixAclXattr(*k.acl));
    if (set.ok()) continue;
    const int err = fs::StatusErrno(set);
    if (err == EINVAL) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot restore the ", k.xattr, " ACL of '", shown,
                       "': the kernel rejects it as invalid; the snapshot is damaged"));
    }
    if (!IsXattrWarning(err)) {
      return FsError(set, absl::StrCat("cannot set the ", k.xattr, " ACL of '", shown, "'"));
    }
    Warn(e.path(), absl::StrCat("POSIX ACL (", k.xattr, ") not restored: ", SystemError(set),
                                " (the target file system does not support "
                                "ACLs)"));
  }
  return absl::OkStatus();
}

absl::Status TreeWriter::ApplyDirMetadata(fs::WritableDirectory& dir, const v1::Entry& e,
                                          const std::string& shown) {
  RETURN_IF_ERROR(
      SetOwner(dir, e, absl::StrCat("cannot set the owner of directory '", shown, "'")));
  RETURN_IF_ERROR(ApplyXattrs(dir, e, shown));
  RETURN_IF_ERROR(ApplyAcls(dir, true, /*inherited=*/true, e, shown));
  if (absl::Status s = dir.SetMode(e.mode() & 07777); !s.ok()) {
    return FsError(
        s, absl::StrFormat("cannot set mode %04o of directory '%s'", e.mode() & 07777, shown));
  }
  if (absl::Status s = dir.SetTimes(EntryAtime(e), e.mtime_ns()); !s.ok()) {
    return FsError(s, absl::StrCat("cannot set the times of directory '", shown, "'"));
  }
  return absl::OkStatus();
}

absl::Status TreeWriter::Finish() {
  if (finished_) {
    return absl::FailedPreconditionError(
        "TreeWriter::Finish called twice; call it once at the end");
  }
  if (in_entry_) {
    return absl::FailedPreconditionError(absl::StrCat("Finish while '", Shown(current_.path()),
                                                      "' is not finished; call FinishEntry first"));
  }
  finished_ = true;
  if (options_.delete_extraneous) RETURN_IF_ERROR(DeleteExtraneous());
  // Deepest first, so that a parent's mode and mtime are set after every
  // change below it; ties keep archive order (a later duplicate wins).
  std::stable_sort(pending_dirs_.begin(), pending_dirs_.end(),
                   [](const PendingDir& a, const PendingDir& b) { return a.depth > b.depth; });
  // kIfChanged: a directory whose mode, owner and mtime are already the
  // snapshot's counts as skipped, not written.
  auto unchanged = [this](fs::WritableDirectory& dir, const v1::Entry& e) {
    absl::StatusOr<fs::StatInfo> st = dir.Stat();
    if (!st.ok() || !SameMetadata(*st, e, /*check_mode=*/true)) return false;
    --entries_written_;
    ++entries_skipped_;
    return true;
  };
  for (const PendingDir& d : pending_dirs_) {
    if (!d.apply) continue;
    ASSIGN_OR_RETURN(std::vector<std::string> comps, SplitStoredPath(d.entry.path(), target_));
    RETURN_IF_ERROR(ChangeDir(comps, /*create=*/false));
    if (d.compare && unchanged(top(), d.entry)) continue;
    RETURN_IF_ERROR(ApplyDirMetadata(top(), d.entry, Shown(d.entry.path())));
  }
  pending_dirs_.clear();
  PopTo(0);
  if (have_root_entry_ && !root_kept_) {
    const bool compare = options_.overwrite == OverwritePolicy::kIfChanged && target_existed_;
    if (!compare || !unchanged(*stack_[0].dir, root_entry_)) {
      RETURN_IF_ERROR(ApplyDirMetadata(*stack_[0].dir, root_entry_, ""));
    }
  }
  return absl::OkStatus();
}

void TreeWriter::Keep() {
  keep_ = true;
  in_entry_ = true;
}

bool TreeWriter::SameMetadata(const fs::StatInfo& st, const v1::Entry& e, bool check_mode) const {
  if (st.mtime_ns != e.mtime_ns()) return false;
  if (check_mode && (st.mode & 07777) != (e.mode() & 07777)) return false;
  if (compare_owner_ && (st.uid != e.uid() || st.gid != e.gid())) return false;
  return true;
}

absl::StatusOr<bool> TreeWriter::KeepExisting(const std::string& name,
                                              const fs::StatInfo& st) {
  if (options_.overwrite == OverwritePolicy::kNever) return true;
  if (options_.overwrite == OverwritePolicy::kAlways) return false;
  const v1::Entry& e = current_;
  switch (e.type()) {
    case v1::ENTRY_TYPE_REGULAR:
      return S_ISREG(st.mode) && st.size == e.size() && SameMetadata(st, e, true);
    case v1::ENTRY_TYPE_SYMLINK: {
      if (!S_ISLNK(st.mode) || st.size != e.symlink_target().size() ||
          !SameMetadata(st, e, false)) {
        return false;
      }
      absl::StatusOr<std::string> target = top().ReadSymlink(name);
      if (!target.ok()) {
        return FsError(target.status(), absl::StrCat("cannot read symlink '", Shown(e.path()),
                                                     "' in ", target_));
      }
      return *target == e.symlink_target();
    }
    case v1::ENTRY_TYPE_FIFO:
      return S_ISFIFO(st.mode) && SameMetadata(st, e, true);
    case v1::ENTRY_TYPE_CHAR_DEVICE:
      return S_ISCHR(st.mode) && st.rdev == e.rdev() && SameMetadata(st, e, true);
    case v1::ENTRY_TYPE_BLOCK_DEVICE:
      return S_ISBLK(st.mode) && st.rdev == e.rdev() && SameMetadata(st, e, true);
    default:
      return false;
  }
}

absl::Status TreeWriter::DeleteExtraneous() {
  // The swept directories: the target (unbounded) and every restored
  // directory entry in scope that is a directory in the target.
  const bool bounded = !options_.delete_scope.empty();
  if (!bounded && have_root_entry_) {
    PopTo(0);
    RETURN_IF_ERROR(SweepDirectory(*stack_[0].dir, ""));
  }
  for (const PendingDir& d : pending_dirs_) {
    const std::string& path = d.entry.path();
    if (bounded && !fs::MatchesSelfOrAncestor(options_.delete_scope, path, true)) continue;
    ASSIGN_OR_RETURN(std::vector<std::string> comps, SplitStoredPath(path, target_));
    RETURN_IF_ERROR(ChangeDir(comps, /*create=*/false));
    RETURN_IF_ERROR(SweepDirectory(top(), path));
  }
  PopTo(0);
  return absl::OkStatus();
}

absl::Status TreeWriter::SweepDirectory(fs::WritableDirectory& dir, const std::string& path) {
  absl::StatusOr<fs::StatInfo> self = dir.Stat();
  if (!self.ok()) {
    return FsError(self.status(), absl::StrCat("cannot stat directory '", Shown(path), "' in ",
                                               target_, " to delete what the snapshot lacks"));
  }
  absl::StatusOr<std::vector<std::string>> names = dir.ListNames();
  if (!names.ok()) {
    return FsError(names.status(), absl::StrCat("cannot list directory '", Shown(path), "' in ",
                                                target_, " to delete what the snapshot lacks"));
  }
  for (const std::string& name : *names) {
    const std::string child = path.empty() ? name : absl::StrCat(path, "/", name);
    if (seen_paths_.contains(child)) continue;
    const uint64_t before = entries_deleted_;
    RETURN_IF_ERROR(RemoveTree(dir, self->dev, name, child));
    if (entries_deleted_ != before && deleted_paths_.size() < kMaxDeletedPaths) {
      deleted_paths_.push_back(child);
    }
  }
  return absl::OkStatus();
}

absl::Status TreeWriter::RemoveTree(fs::WritableDirectory& dir, uint64_t dir_dev,
                                    const std::string& name, const std::string& path) {
  absl::StatusOr<std::optional<fs::StatInfo>> st = dir.Lstat(name);
  if (!st.ok()) {
    return FsError(st.status(), absl::StrCat("cannot inspect '", Shown(path), "' in ", target_,
                                             " to delete it (not in the snapshot)"));
  }
  if (!st->has_value()) return absl::OkStatus();
  if (!S_ISDIR((*st)->mode)) {
    absl::Status removed = dir.Unlink(name);
    if (!removed.ok() && fs::StatusErrno(removed) != ENOENT) {
      return FsError(removed, absl::StrCat("cannot delete '", Shown(path), "' in ", target_,
                                           " (not in the snapshot)"));
    }
    ++entries_deleted_;
    return absl::OkStatus();
  }
  if ((*st)->dev != dir_dev) {
    Warn(path, "not deleted although the snapshot lacks it: another file system is mounted "
               "there (--delete never crosses file systems)");
    return absl::OkStatus();
  }
  {
    // Opened without following: a symlink swapped in meanwhile fails here.
    absl::StatusOr<std::unique_ptr<fs::WritableDirectory>> sub = dir.OpenDirectory(name);
    if (!sub.ok()) {
      return FsError(sub.status(), absl::StrCat("cannot open directory '", Shown(path), "' in ",
                                                target_, " to delete it (not in the snapshot)"));
    }
    absl::StatusOr<std::vector<std::string>> names = (*sub)->ListNames();
    if (!names.ok()) {
      return FsError(names.status(), absl::StrCat("cannot list directory '", Shown(path),
                                                  "' in ", target_,
                                                  " to delete it (not in the snapshot)"));
    }
    for (const std::string& n : *names) {
      RETURN_IF_ERROR(RemoveTree(**sub, (*st)->dev, n, absl::StrCat(path, "/", n)));
    }
  }
  absl::Status removed = dir.RemoveDirectory(name);
  if (!removed.ok()) {
    // Something below was kept (a mount point) or appeared meanwhile.
    if (fs::StatusErrno(removed) == ENOTEMPTY) return absl::OkStatus();
    return FsError(removed, absl::StrCat("cannot delete directory '", Shown(path), "' in ",
                                         target_, " (not in the snapshot)"));
  }
  ++entries_deleted_;
  return absl::OkStatus();
}

void TreeWriter::RememberInode(uint64_t dev, uint64_t ino) {
  link_inodes_.insert(std::make_pair(dev, ino));
}

void TreeWriter::Warn(const std::string& path, const std::string& message) {
  v1::Warning w;
  w.set_phase(v1::PHASE_RESTORE);
  w.set_path(path);
  w.set_message(message);
  warnings_.push_back(std::move(w));
}

std::vector<v1::Warning> TreeWriter::TakeWarnings() { return std::exchange(warnings_, {}); }

}  // namespace arca
