// Child processes: start a program (argv, optional environment, working
// directory, process group), route its standard streams, wait for it with an
// optional timeout and stop it. The one place in arca that forks: pre-backup
// commands, the test helpers that start services, Prometheus and the CLI all
// use it.
//
// Safe in multi-threaded programs: everything the child needs (argv, envp,
// the resolved program path, opened files) is prepared before fork(); between
// fork() and exec the child calls only async-signal-safe functions. Every
// descriptor this library opens is close-on-exec, so a child started by
// another thread at the same moment inherits none of them; in the child every
// descriptor above 2 is marked close-on-exec before exec, so the program
// receives only its standard streams. Signals are blocked around fork() and
// the child starts with an empty signal mask and default dispositions (an
// ignored SIGPIPE in the parent is not inherited).
//
// Captured streams are read together with poll(), so a child that fills one
// pipe while the parent waits on the other cannot deadlock.
//
// Thread-safety: Start and RunSubprocess may be called from any thread
// concurrently. One Subprocess object belongs to one thread at a time (no
// internal locking); pid() may be read from anywhere.
//
// Ownership: the Subprocess owns the child until it is reaped, and the read
// ends of its pipes. Destroying a Subprocess whose child has not been reaped
// sends SIGKILL (to its process group when it has its own) and reaps it: no
// zombie and no orphan is left behind. Descriptors given in options
// (SubprocessInput::Fd, SubprocessOutput::Fd) stay the caller's; the child
// gets its own duplicate.
//
// Errors are absl::Status naming the program and the system error, with the
// code of the errno (absl::ErrnoToStatusCode: a missing program is NotFound,
// a program that is not executable PermissionDenied, fork or pipe failing for
// lack of resources Unavailable / ResourceExhausted). No exceptions.
#ifndef ARCA_LIBS_BASE_SUBPROCESS_H_
#define ARCA_LIBS_BASE_SUBPROCESS_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace arca {

// Where the child's standard input comes from.
struct SubprocessInput {
  enum class Mode { kNull, kInherit, kFd };
  Mode mode = Mode::kNull;
  int fd = -1;  // kFd: the caller's descriptor (it stays open and the caller's)

  static SubprocessInput Null() { return {}; }  // /dev/null (the default)
  static SubprocessInput Inherit() { return {Mode::kInherit, -1}; }
  static SubprocessInput Fd(int fd) { return {Mode::kFd, fd}; }
};

// Where the child's standard output or standard error goes.
struct SubprocessOutput {
  enum class Mode {
    kInherit,  // the parent's descriptor 1 or 2 (the default)
    kNull,     // /dev/null
    kCapture,  // into SubprocessResult::stdout_data / stderr_data, read by Wait
    kFile,     // a file opened by Start (created 0644; truncated unless append)
    kFd,       // a duplicate of the caller's descriptor
    kPipe,     // a pipe whose read end the caller reads: Subprocess::stdout_fd()
  };
  // kCapture: which bytes are kept when the stream is longer than max_bytes.
  // The rest is read and dropped (never left in the pipe); the total is in
  // SubprocessResult::stdout_bytes / stderr_bytes.
  enum class Keep { kHead, kTail };

  Mode mode = Mode::kInherit;
  size_t max_bytes = std::numeric_limits<size_t>::max();  // kCapture
  Keep keep = Keep::kHead;                                // kCapture
  std::string path;                                       // kFile
  bool append = false;                                    // kFile
  int fd = -1;                                            // kFd

  static SubprocessOutput Inherit() { return {}; }
  static SubprocessOutput Null() { return {Mode::kNull}; }
  static SubprocessOutput Capture(size_t max_bytes = std::numeric_limits<size_t>::max(),
                                  Keep keep = Keep::kHead) {
    return {Mode::kCapture, max_bytes, keep};
  }
  static SubprocessOutput File(std::string path, bool append = false) {
    SubprocessOutput out{Mode::kFile};
    out.path = std::move(path);
    out.append = append;
    return out;
  }
  static SubprocessOutput Fd(int fd) {
    SubprocessOutput out{Mode::kFd};
    out.fd = fd;
    return out;
  }
  static SubprocessOutput Pipe() { return {Mode::kPipe}; }
};

struct SubprocessOptions {
  // argv[0] is the program: a path (with a '/', relative to the working
  // directory below when one is set) or a name looked up in PATH (the PATH of
  // `environment` when it has one, else the parent's). Must not be empty.
  std::vector<std::string> argv;
  // The whole environment, "NAME=value" each; nullopt: the parent's at the
  // time of Start. See EnvironmentWith for "the parent's plus a few".
  std::optional<std::vector<std::string>> environment;
  std::string working_directory;  // empty: the parent's
  // The child leads a new process group; Signal and Terminate then reach the
  // whole group (a shell and everything it started).
  bool new_process_group = false;
  // Linux PR_SET_PDEATHSIG: the child gets SIGKILL when the thread that
  // started it ends (in practice: when the parent process dies). For test
  // helpers; start from a thread that outlives the child.
  bool kill_with_parent = false;
  SubprocessInput stdin_input;
  SubprocessOutput stdout_output;
  SubprocessOutput stderr_output;
};

struct SubprocessResult {
  int exit_code = -1;       // the exit status, or 128+N when killed by signal N
  int term_signal = 0;      // N when killed by signal N, else 0
  bool timed_out = false;   // RunSubprocess stopped it after its timeout
  std::string stdout_data;  // kCapture only: at most max_bytes (head or tail)
  std::string stderr_data;
  uint64_t stdout_bytes = 0;  // kCapture only: everything the child wrote
  uint64_t stderr_bytes = 0;
  absl::Duration duration;  // from Start to the moment it was reaped

  bool stdout_truncated() const { return stdout_bytes > stdout_data.size(); }
  bool stderr_truncated() const { return stderr_bytes > stderr_data.size(); }
};

class Subprocess {
 public:
  // Starts the child. Errors (nothing is left running): InvalidArgument for
  // an empty argv; NotFound when argv[0] is not in PATH; the errno's code
  // when a file of the options cannot be opened, fork fails, or the child
  // cannot change directory or exec (e.g. "cannot start '/no/such':
  // execve: No such file or directory", NotFound). The message names
  // argv[0].
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(const SubprocessOptions& options);

  // Kills (SIGKILL) and reaps the child unless it was already reaped.
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& program() const { return program_; }
  // Read ends of kPipe streams (owned by this object, close-on-exec), or -1.
  int stdout_fd() const { return pipe_fd_[0]; }
  int stderr_fd() const { return pipe_fd_[1]; }
  // True once Wait or Terminate has reaped the child.
  bool reaped() const { return reaped_; }

  // Sends `signo` to the child (to its process group with
  // new_process_group). OK and nothing sent once the child is reaped;
  // otherwise the errno of kill() naming the program.
  absl::Status Signal(int signo);

  // Reads the captured streams until end of file, then reaps the child;
  // returns its result, the captured data moved into it. Waits at most
  // `timeout` (InfiniteDuration: no limit): DeadlineExceeded when the child
  // is still running or still holds a captured stream open then; the child
  // keeps running, what was captured so far is kept, and Wait or Terminate
  // may be called again. Descendants that keep a captured stream open keep
  // Wait waiting. After the child is reaped, Wait returns its exit status
  // again (the captured data and byte counts only the first time).
  absl::StatusOr<SubprocessResult> Wait(absl::Duration timeout = absl::InfiniteDuration());

  // Stops the child: SIGTERM (to the group with new_process_group), up to
  // `grace` for it to end, then SIGKILL; reaps it. grace <= 0 sends SIGKILL
  // at once. Captured output is read meanwhile; after SIGKILL, streams held
  // open by descendants outside the group are read for at most 1 s more and
  // then abandoned. Returns the result as Wait does (already reaped: its
  // exit status).
  absl::StatusOr<SubprocessResult> Terminate(absl::Duration grace = absl::Seconds(10));

 private:
  struct Capture {
    int fd = -1;
    size_t max_bytes = 0;
    SubprocessOutput::Keep keep = SubprocessOutput::Keep::kHead;
    std::string data;
    uint64_t total = 0;
  };

  Subprocess() = default;
  // Reads captured streams until all are at end of file (true) or the
  // deadline passes (false).
  bool ReadCaptures(absl::Time deadline);
  void CloseCaptures();
  // Reaps the child: true once reaped, false when the deadline passes first.
  absl::StatusOr<bool> Reap(absl::Time deadline);
  SubprocessResult TakeResult();
  absl::Status SendSignal(int signo);

  pid_t pid_ = -1;
  int pidfd_ = -1;  // Linux pidfd of the child when the kernel has one, else -1
  bool process_group_ = false;
  bool reaped_ = false;
  std::string program_;
  absl::Time start_;
  Capture capture_[2];  // stdout, stderr
  int pipe_fd_[2] = {-1, -1};
  SubprocessResult result_;  // exit fields valid once reaped_
};

// Start, then Wait(timeout). When the timeout passes, Terminate(grace) and
// the result has timed_out set. Errors: those of Start, Wait and Terminate.
absl::StatusOr<SubprocessResult> RunSubprocess(const SubprocessOptions& options,
                                               absl::Duration timeout = absl::InfiniteDuration(),
                                               absl::Duration grace = absl::Seconds(10));

// The parent's environment with `overrides` ("NAME=value") replacing the
// variables of the same name or added at the end.
std::vector<std::string> EnvironmentWith(const std::vector<std::string>& overrides);

}  // namespace arca

#endif  // ARCA_LIBS_BASE_SUBPROCESS_H_
