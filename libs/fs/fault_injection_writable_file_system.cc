#include "libs/fs/fault_injection_writable_file_system.h"

#include <fnmatch.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace arca::fs {
namespace {

constexpr size_t kOpCount = static_cast<size_t>(WriteOp::kReadSymlink) + 1;

std::string ChildPath(const std::string& dir, const std::string& name) {
  if (!dir.empty() && dir.back() == '/') return absl::StrCat(dir, name);
  return absl::StrCat(dir, "/", name);
}

}  // namespace

const char* WriteOpName(WriteOp op) {
  switch (op) {
    case WriteOp::kStat:
      return "stat";
    case WriteOp::kMakeDirectory:
      return "mkdir";
    case WriteOp::kOpenDirectory:
      return "open directory";
    case WriteOp::kLstat:
      return "lstat";
    case WriteOp::kRemoveDirectory:
      return "rmdir";
    case WriteOp::kUnlink:
      return "unlink";
    case WriteOp::kCreateFile:
      return "create file";
    case WriteOp::kCreateSymlink:
      return "symlink";
    case WriteOp::kCreateFifo:
      return "mkfifo";
    case WriteOp::kCreateDevice:
      return "mknod";
    case WriteOp::kLink:
      return "link";
    case WriteOp::kOpenNode:
      return "open node";
    case WriteOp::kWrite:
      return "write";
    case WriteOp::kTruncate:
      return "truncate";
    case WriteOp::kClose:
      return "close";
    case WriteOp::kNodeStat:
      return "fstat";
    case WriteOp::kSetOwner:
      return "chown";
    case WriteOp::kSetMode:
      return "chmod";
    case WriteOp::kSetTimes:
      return "set times";
    case WriteOp::kSetXattr:
      return "setxattr";
    case WriteOp::kRemoveXattr:
      return "removexattr";
    case WriteOp::kXattrSize:
      return "getxattr";
    case WriteOp::kListNames:
      return "readdir";
    case WriteOp::kReadSymlink:
      return "readlink";
  }
  return "unknown operation";
}

// The metadata calls every handle has, checked then forwarded to `base_`.
template <typename Base>
class FaultInjectionWritableFileSystem::NodeMethods : public Base {
 public:
  const std::string& path() const override { return base_->path(); }

  absl::StatusOr<StatInfo> Stat() override {
    if (absl::Status s = owner_->Check(WriteOp::kNodeStat, path()); !s.ok()) return s;
    return base_->Stat();
  }
  absl::Status SetOwner(uint32_t uid, uint32_t gid) override {
    if (absl::Status s = owner_->Check(WriteOp::kSetOwner, path()); !s.ok()) return s;
    return base_->SetOwner(uid, gid);
  }
  absl::Status SetMode(uint32_t mode) override {
    if (absl::Status s = owner_->Check(WriteOp::kSetMode, path()); !s.ok()) return s;
    return base_->SetMode(mode);
  }
  absl::Status SetTimes(std::optional<int64_t> atime_ns, int64_t mtime_ns) override {
    if (absl::Status s = owner_->Check(WriteOp::kSetTimes, path()); !s.ok()) return s;
    return base_->SetTimes(atime_ns, mtime_ns);
  }
  absl::Status SetXattr(const std::string& name, const std::string& value) override {
    if (absl::Status s = owner_->Check(WriteOp::kSetXattr, path()); !s.ok()) return s;
    return base_->SetXattr(name, value);
  }
  absl::Status RemoveXattr(const std::string& name) override {
    if (absl::Status s = owner_->Check(WriteOp::kRemoveXattr, path()); !s.ok()) return s;
    return base_->RemoveXattr(name);
  }
  absl::StatusOr<size_t> XattrSize(const std::string& name) override {
    if (absl::Status s = owner_->Check(WriteOp::kXattrSize, path()); !s.ok()) return s;
    return base_->XattrSize(name);
  }

 protected:
  NodeMethods(FaultInjectionWritableFileSystem* owner, std::unique_ptr<Base> base)
      : owner_(owner), base_(std::move(base)) {}

  FaultInjectionWritableFileSystem* const owner_;
  const std::unique_ptr<Base> base_;
};

class FaultInjectionWritableFileSystem::Node final : public NodeMethods<WritableNode> {
 public:
  Node(FaultInjectionWritableFileSystem* owner, std::unique_ptr<WritableNode> base)
      : NodeMethods(owner, std::move(base)) {}
};

class FaultInjectionWritableFileSystem::File final : public NodeMethods<WritableFile> {
 public:
  File(FaultInjectionWritableFileSystem* owner, std::unique_ptr<WritableFile> base)
      : NodeMethods(owner, std::move(base)) {}

  absl::Status WriteAt(uint64_t offset, std::span<const uint8_t> data) override {
    if (absl::Status s = owner_->Check(WriteOp::kWrite, path()); !s.ok()) return s;
    return base_->WriteAt(offset, data);
  }
  absl::Status Truncate(uint64_t size) override {
    if (absl::Status s = owner_->Check(WriteOp::kTruncate, path()); !s.ok()) return s;
    return base_->Truncate(size);
  }
  absl::Status Close() override {
    absl::Status closed = base_->Close();  // closed either way, like close(2)
    if (absl::Status s = owner_->Check(WriteOp::kClose, path()); !s.ok()) return s;
    return closed;
  }
};

class FaultInjectionWritableFileSystem::Directory final : public NodeMethods<WritableDirectory> {
 public:
  Directory(FaultInjectionWritableFileSystem* owner, std::unique_ptr<WritableDirectory> base)
      : NodeMethods(owner, std::move(base)) {}

  absl::StatusOr<std::optional<StatInfo>> Lstat(const std::string& name) override {
    if (absl::Status s = Check(WriteOp::kLstat, name); !s.ok()) return s;
    return base_->Lstat(name);
  }
  absl::StatusOr<std::unique_ptr<WritableDirectory>> OpenDirectory(
      const std::string& name, DirectoryAccess access) override {
    if (absl::Status s = Check(WriteOp::kOpenDirectory, name); !s.ok()) return s;
    absl::StatusOr<std::unique_ptr<WritableDirectory>> dir = base_->OpenDirectory(name, access);
    if (!dir.ok()) return dir.status();
    return std::unique_ptr<WritableDirectory>(new Directory(owner_, *std::move(dir)));
  }
  absl::Status MakeDirectory(const std::string& name, uint32_t mode) override {
    if (absl::Status s = Check(WriteOp::kMakeDirectory, name); !s.ok()) return s;
    return base_->MakeDirectory(name, mode);
  }
  absl::Status RemoveDirectory(const std::string& name) override {
    if (absl::Status s = Check(WriteOp::kRemoveDirectory, name); !s.ok()) return s;
    return base_->RemoveDirectory(name);
  }
  absl::Status Unlink(const std::string& name) override {
    if (absl::Status s = Check(WriteOp::kUnlink, name); !s.ok()) return s;
    return base_->Unlink(name);
  }
  absl::StatusOr<std::unique_ptr<WritableFile>> CreateFile(const std::string& name,
                                                           uint32_t mode) override {
    if (absl::Status s = Check(WriteOp::kCreateFile, name); !s.ok()) return s;
    absl::StatusOr<std::unique_ptr<WritableFile>> file = base_->CreateFile(name, mode);
    if (!file.ok()) return file.status();
    return std::unique_ptr<WritableFile>(new File(owner_, *std::move(file)));
  }
  absl::Status CreateSymlink(const std::string& name, const std::string& target) override {
    if (absl::Status s = Check(WriteOp::kCreateSymlink, name); !s.ok()) return s;
    return base_->CreateSymlink(name, target);
  }
  absl::Status CreateFifo(const std::string& name, uint32_t mode) override {
    if (absl::Status s = Check(WriteOp::kCreateFifo, name); !s.ok()) return s;
    return base_->CreateFifo(name, mode);
  }
  absl::Status CreateDevice(const std::string& name, uint32_t type, uint32_t mode,
                            uint64_t rdev) override {
    if (absl::Status s = Check(WriteOp::kCreateDevice, name); !s.ok()) return s;
    return base_->CreateDevice(name, type, mode, rdev);
  }
  absl::Status Link(WritableDirectory& from, const std::string& from_name,
                    const std::string& name) override {
    auto* wrapped = dynamic_cast<Directory*>(&from);
    if (wrapped == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot link ", ChildPath(path(), name), " to ", ChildPath(from.path(), from_name),
          ": the source directory is not from the same file system"));
    }
    if (absl::Status s = Check(WriteOp::kLink, name); !s.ok()) return s;
    return base_->Link(*wrapped->base_, from_name, name);
  }
  absl::StatusOr<std::unique_ptr<WritableNode>> OpenNode(const std::string& name) override {
    if (absl::Status s = Check(WriteOp::kOpenNode, name); !s.ok()) return s;
    absl::StatusOr<std::unique_ptr<WritableNode>> node = base_->OpenNode(name);
    if (!node.ok()) return node.status();
    return std::unique_ptr<WritableNode>(new Node(owner_, *std::move(node)));
  }
  absl::StatusOr<std::vector<std::string>> ListNames() override {
    if (absl::Status s = owner_->Check(WriteOp::kListNames, path()); !s.ok()) return s;
    return base_->ListNames();
  }
  absl::StatusOr<std::string> ReadSymlink(const std::string& name) override {
    if (absl::Status s = Check(WriteOp::kReadSymlink, name); !s.ok()) return s;
    return base_->ReadSymlink(name);
  }

 private:
  absl::Status Check(WriteOp op, const std::string& name) {
    return owner_->Check(op, ChildPath(path(), name));
  }
};

FaultInjectionWritableFileSystem::FaultInjectionWritableFileSystem(WritableFileSystem* base)
    : base_(base), calls_(kOpCount, 0) {}

FaultInjectionWritableFileSystem::~FaultInjectionWritableFileSystem() = default;

void FaultInjectionWritableFileSystem::Inject(const WriteFault& fault) {
  absl::MutexLock lock(&mu_);
  faults_.push_back(ActiveFault{fault, 0});
}

void FaultInjectionWritableFileSystem::ClearFaults() {
  absl::MutexLock lock(&mu_);
  faults_.clear();
}

uint64_t FaultInjectionWritableFileSystem::calls(WriteOp op) const {
  absl::MutexLock lock(&mu_);
  return calls_[static_cast<size_t>(op)];
}

uint64_t FaultInjectionWritableFileSystem::injected() const {
  absl::MutexLock lock(&mu_);
  return injected_;
}

absl::Status FaultInjectionWritableFileSystem::Check(WriteOp op, const std::string& path) {
  int error_number = 0;
  {
    absl::MutexLock lock(&mu_);
    ++calls_[static_cast<size_t>(op)];
    for (ActiveFault& f : faults_) {
      if (f.fault.op != op) continue;
      if (!f.fault.path_pattern.empty() &&
          fnmatch(f.fault.path_pattern.c_str(), path.c_str(), 0) != 0) {
        continue;
      }
      ++f.seen;
      if (f.seen == f.fault.nth || (f.fault.sticky && f.seen > f.fault.nth)) {
        error_number = f.fault.error_number;
        ++injected_;
        break;
      }
    }
  }
  if (error_number == 0) return absl::OkStatus();
  return ErrnoToWriteStatus(error_number, absl::StrCat(WriteOpName(op), " (injected fault)"), path);
}

absl::StatusOr<std::optional<StatInfo>> FaultInjectionWritableFileSystem::Stat(
    const std::string& path) {
  if (absl::Status s = Check(WriteOp::kStat, path); !s.ok()) return s;
  return base_->Stat(path);
}

absl::Status FaultInjectionWritableFileSystem::MakeDirectory(const std::string& path,
                                                             uint32_t mode) {
  if (absl::Status s = Check(WriteOp::kMakeDirectory, path); !s.ok()) return s;
  return base_->MakeDirectory(path, mode);
}

absl::StatusOr<std::unique_ptr<WritableDirectory>> FaultInjectionWritableFileSystem::OpenDirectory(
    const std::string& path) {
  if (absl::Status s = Check(WriteOp::kOpenDirectory, path); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<WritableDirectory>> dir = base_->OpenDirectory(path);
  if (!dir.ok()) return dir.status();
  return std::unique_ptr<WritableDirectory>(new Directory(this, *std::move(dir)));
}

}  // namespace arca::fs
