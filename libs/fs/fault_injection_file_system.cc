#include "libs/fs/fault_injection_file_system.h"

#include "absl/strings/str_cat.h"

namespace arca::fs {

// Forwards to the base file, failing reads as FailRead asked.
class FaultInjectionFileSystem::File final : public RandomAccessFile {
 public:
  File(const FaultInjectionFileSystem* owner, std::string path,
       std::unique_ptr<RandomAccessFile> base)
      : owner_(owner), path_(std::move(path)), base_(std::move(base)) {}

  absl::StatusOr<size_t> ReadAt(uint64_t offset, std::span<uint8_t> buf) override {
    ReadFault fault;
    if (!owner_->FindReadFault(path_, &fault)) {
      return base_->ReadAt(offset, buf);
    }
    if (offset >= fault.after_bytes) return fault.status;
    absl::StatusOr<size_t> n = base_->ReadAt(offset, buf);
    if (n.ok() && offset + *n > fault.after_bytes) return fault.status;
    return n;
  }

  absl::StatusOr<StatInfo> Stat() override { return base_->Stat(); }

  absl::StatusOr<std::vector<v1::Extent>> DataExtents(uint64_t size) override {
    return base_->DataExtents(size);
  }

  void HintSequential() override { base_->HintSequential(); }

 private:
  const FaultInjectionFileSystem* const owner_;
  const std::string path_;
  const std::unique_ptr<RandomAccessFile> base_;
};

FaultInjectionFileSystem::FaultInjectionFileSystem(FileSystem* base) : base_(base) {}

void FaultInjectionFileSystem::FailOpen(const std::string& path, absl::Status status) {
  absl::MutexLock lock(&mu_);
  open_faults_[path] = std::move(status);
}

void FaultInjectionFileSystem::FailRead(const std::string& path, absl::Status status,
                                        uint64_t after_bytes) {
  absl::MutexLock lock(&mu_);
  read_faults_[path] = ReadFault{std::move(status), after_bytes};
}

void FaultInjectionFileSystem::Vanish(const std::string& path) {
  absl::MutexLock lock(&mu_);
  vanished_.insert(path);
}

void FaultInjectionFileSystem::FailListDirectory(const std::string& path, absl::Status status) {
  absl::MutexLock lock(&mu_);
  list_faults_[path] = std::move(status);
}

void FaultInjectionFileSystem::FailGetXattrs(const std::string& path, absl::Status status) {
  absl::MutexLock lock(&mu_);
  xattr_faults_[path] = std::move(status);
}

void FaultInjectionFileSystem::ClearFaults() {
  absl::MutexLock lock(&mu_);
  open_faults_.clear();
  read_faults_.clear();
  vanished_.clear();
  list_faults_.clear();
  xattr_faults_.clear();
}

uint64_t FaultInjectionFileSystem::open_count() const {
  absl::MutexLock lock(&mu_);
  return open_count_;
}

uint64_t FaultInjectionFileSystem::open_count(const std::string& path) const {
  absl::MutexLock lock(&mu_);
  auto it = open_counts_.find(path);
  return it == open_counts_.end() ? 0 : it->second;
}

bool FaultInjectionFileSystem::FindReadFault(const std::string& path, ReadFault* fault) const {
  absl::MutexLock lock(&mu_);
  auto it = read_faults_.find(path);
  if (it == read_faults_.end()) return false;
  *fault = it->second;
  return true;
}

absl::StatusOr<StatInfo> FaultInjectionFileSystem::Lstat(const std::string& path) {
  return base_->Lstat(path);
}

absl::StatusOr<std::vector<std::string>> FaultInjectionFileSystem::ListDirectory(
    const std::string& path) {
  {
    absl::MutexLock lock(&mu_);
    auto it = list_faults_.find(path);
    if (it != list_faults_.end()) return it->second;
  }
  return base_->ListDirectory(path);
}

absl::StatusOr<std::unique_ptr<RandomAccessFile>> FaultInjectionFileSystem::OpenForRead(
    const std::string& path) {
  {
    absl::MutexLock lock(&mu_);
    ++open_count_;
    ++open_counts_[path];
    if (vanished_.contains(path)) {
      return absl::NotFoundError(
          absl::StrCat("cannot open ", path, ": No such file or directory (vanished)"));
    }
    auto it = open_faults_.find(path);
    if (it != open_faults_.end()) return it->second;
  }
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> file = base_->OpenForRead(path);
  if (!file.ok()) return file.status();
  return std::unique_ptr<RandomAccessFile>(new File(this, path, *std::move(file)));
}

absl::StatusOr<std::string> FaultInjectionFileSystem::ReadLink(const std::string& path) {
  return base_->ReadLink(path);
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>>
FaultInjectionFileSystem::GetXattrs(const std::string& path) {
  {
    absl::MutexLock lock(&mu_);
    auto it = xattr_faults_.find(path);
    if (it != xattr_faults_.end()) return it->second;
  }
  return base_->GetXattrs(path);
}

}  // namespace arca::fs
