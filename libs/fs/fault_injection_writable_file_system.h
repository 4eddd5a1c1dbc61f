// A WritableFileSystem decorator that injects errno failures into another
// WritableFileSystem, for tests of restores (LevelDB's FaultInjectionTestEnv):
// ENOSPC in the middle of a file's data, EIO on a write or on close, EACCES
// on a mkdir or a file creation deep in the tree — failures the tests cannot
// provoke for real (they run as root on a roomy disk).
//
// A fault is: an operation (WriteOp), an errno, the Nth call of that
// operation to fail (counting only calls whose path matches), optionally
// every call after it too, and optionally a path pattern. The path of a call
// is the full path of the node it concerns (the handle's path() for handle
// operations, the child's path "<dir>/<name>" for operations on a name in a
// directory); the pattern is an fnmatch(3) glob without FNM_PATHNAME ('*'
// also matches '/'), e.g. "*/deep/*" or "/t/a/file.bin".
//
// An injected failure looks like a real one: the status is
// ErrnoToWriteStatus(errno, "<operation> (injected fault)", path), so
// StatusErrno gives the errno and callers take the same branch as for a real
// failure. The failed call does nothing, except kClose, which closes the
// file first (as close(2) does when it reports an error).
//
// Thread-safety: thread-safe. The base file system must outlive this object
// and every handle opened through it.
#ifndef ARCA_LIBS_FS_FAULT_INJECTION_WRITABLE_FILE_SYSTEM_H_
#define ARCA_LIBS_FS_FAULT_INJECTION_WRITABLE_FILE_SYSTEM_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "libs/fs/writable_file_system.h"

namespace arca::fs {

// The operations of writable_file_system.h, for fault injection and counts.
enum class WriteOp {
  kStat,             // WritableFileSystem::Stat
  kMakeDirectory,    // WritableFileSystem / WritableDirectory::MakeDirectory
  kOpenDirectory,    // WritableFileSystem / WritableDirectory::OpenDirectory
  kLstat,            // WritableDirectory::Lstat
  kRemoveDirectory,  // WritableDirectory::RemoveDirectory
  kUnlink,           // WritableDirectory::Unlink
  kCreateFile,       // WritableDirectory::CreateFile
  kCreateSymlink,    // WritableDirectory::CreateSymlink
  kCreateFifo,       // WritableDirectory::CreateFifo
  kCreateDevice,     // WritableDirectory::CreateDevice
  kLink,             // WritableDirectory::Link (path: the new name)
  kOpenNode,         // WritableDirectory::OpenNode
  kWrite,            // WritableFile::WriteAt
  kTruncate,         // WritableFile::Truncate
  kClose,            // WritableFile::Close
  kNodeStat,         // WritableNode::Stat
  kSetOwner,         // WritableNode::SetOwner
  kSetMode,          // WritableNode::SetMode
  kSetTimes,         // WritableNode::SetTimes
  kSetXattr,         // WritableNode::SetXattr
  kRemoveXattr,      // WritableNode::RemoveXattr
  kXattrSize,        // WritableNode::XattrSize
  kListNames,        // WritableDirectory::ListNames (path: the directory)
  kReadSymlink,      // WritableDirectory::ReadSymlink
};

// "write", "mkdir", ... (for messages).
const char* WriteOpName(WriteOp op);

struct WriteFault {
  WriteOp op = WriteOp::kWrite;
  int error_number = 0;  // the errno to inject, e.g. ENOSPC; not 0
  // The first matching call to fail, 1-based: 3 lets two calls through.
  uint64_t nth = 1;
  // Fail every matching call from the nth on (a full disk stays full), not
  // just the nth.
  bool sticky = false;
  // fnmatch(3) glob on the call's path (no FNM_PATHNAME); empty = any path.
  std::string path_pattern;
};

class FaultInjectionWritableFileSystem final : public WritableFileSystem {
 public:
  // `base` is not owned.
  explicit FaultInjectionWritableFileSystem(WritableFileSystem* base);
  ~FaultInjectionWritableFileSystem() override;

  // Adds a fault; it applies to every later call, through handles opened
  // before too. Calls made before it do not count towards `nth`.
  void Inject(const WriteFault& fault);

  // Removes every fault (the counters are kept).
  void ClearFaults();

  // Number of calls of `op` so far (failed ones included).
  uint64_t calls(WriteOp op) const;

  // Number of faults injected so far.
  uint64_t injected() const;

  absl::StatusOr<std::optional<StatInfo>> Stat(const std::string& path) override;
  absl::Status MakeDirectory(const std::string& path, uint32_t mode) override;
  absl::StatusOr<std::unique_ptr<WritableDirectory>> OpenDirectory(
      const std::string& path) override;

 private:
  class Directory;
  class File;
  class Node;
  template <typename Base>
  class NodeMethods;
  struct ActiveFault {
    WriteFault fault;
    uint64_t seen = 0;  // matching calls since the fault was added
  };

  // Counts a call of `op` on `path`; the injected status if a fault fires,
  // OK otherwise.
  absl::Status Check(WriteOp op, const std::string& path);

  WritableFileSystem* const base_;
  mutable absl::Mutex mu_;
  std::vector<ActiveFault> faults_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> calls_ ABSL_GUARDED_BY(mu_);
  uint64_t injected_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace arca::fs

#endif  // ARCA_LIBS_FS_FAULT_INJECTION_WRITABLE_FILE_SYSTEM_H_
