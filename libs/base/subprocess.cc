#include "libs/base/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

extern char** environ;

namespace arca {
namespace {

// What a child that could not exec tells its parent through the report pipe.
struct ChildFailure {
  int stage;  // ChildStage
  int error;  // errno
};
enum ChildStage : int { kStageParent = 1, kStageDup, kStageChdir, kStageExec };

const char* StageName(int stage) {
  switch (stage) {
    case kStageParent:
      return "parent exited";
    case kStageDup:
      return "dup2";
    case kStageChdir:
      return "chdir";
    default:
      return "execve";
  }
}

absl::Status ErrnoError(int error, absl::string_view program, absl::string_view what) {
  return absl::Status(absl::ErrnoToStatusCode(error),
                      absl::StrCat("cannot start '", program, "': ", what, ": ", strerror(error)));
}

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

// Milliseconds until `deadline` for poll(): -1 for an infinite one, 0 once passed.
int PollTimeoutMs(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return -1;
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(
      absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))), 1 << 30));
}

absl::Time DeadlineAfter(absl::Duration timeout) {
  return timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + timeout;
}

// argv[0] with a '/' as is; otherwise the first executable regular file
// named argv[0] in the PATH directories ("" when there is none).
std::string ResolveProgram(const std::string& name, const std::string& path_var) {
  if (name.find('/') != std::string::npos) return name;
  for (absl::string_view dir : absl::StrSplit(path_var, ':')) {
    const std::string candidate = absl::StrCat(dir.empty() ? "." : dir, "/", name);
    struct stat st;
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return "";
}

std::string PathVariable(const SubprocessOptions& options) {
  if (options.environment) {
    for (const std::string& e : *options.environment) {
      if (absl::StartsWith(e, "PATH=")) return e.substr(5);
    }
  }
  const char* path = getenv("PATH");
  return path ? path : "/usr/local/bin:/usr/bin:/bin";
}

// Runs in the child between fork() and exec: async-signal-safe calls only.
// src[i] is the descriptor for i (0, 1, 2), or -1 to keep the inherited one.
[[noreturn]] void ExecChild(const char* path, char* const* argv, char* const* envp,
                            const char* working_directory, int src[3], bool new_process_group,
                            bool kill_with_parent, pid_t parent, int report_fd) {
  auto fail = [report_fd](int stage, int error) {
    ChildFailure failure = {stage, error};
    ssize_t ignored = write(report_fd, &failure, sizeof(failure));
    (void)ignored;
    _exit(127);
  };
  if (kill_with_parent) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) fail(kStageParent, ESRCH);
  }
  if (new_process_group) setpgid(0, 0);
  // Default dispositions, then an empty mask (the parent blocked everything
  // around fork(), so no handler of the parent runs here).
  struct sigaction dfl;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  // Move every source above 2 first, so that no dup2 below overwrites a
  // source still to be used.
  for (int i = 0; i < 3; ++i) {
    if (src[i] >= 0 && src[i] < 3) {
      src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3);
      if (src[i] < 0) fail(kStageDup, errno);
    }
  }
  for (int i = 0; i < 3; ++i) {
    if (src[i] >= 0 && dup2(src[i], i) < 0) fail(kStageDup, errno);
  }
#ifdef SYS_close_range
  // CLOSE_RANGE_CLOEXEC (Linux 5.11): inherited descriptors are not passed
  // on; the report pipe stays open until exec. Older kernels: skipped.
  syscall(SYS_close_range, 3u, ~0u, 1u << 2);
#endif
  if (working_directory != nullptr && chdir(working_directory) != 0) fail(kStageChdir, errno);
  execve(path, argv, envp);
  fail(kStageExec, errno);
  _exit(127);  // not reached
}

}  // namespace

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(const SubprocessOptions& options) {
  if (options.argv.empty()) {
    return absl::InvalidArgumentError("cannot start a subprocess: empty argv");
  }
  const std::string& program = options.argv[0];
  const std::string path = ResolveProgram(program, PathVariable(options));
  if (path.empty()) {
    return absl::NotFoundError(absl::StrCat("cannot start '", program, "': not found in PATH (",
                                            PathVariable(options), ")"));
  }

  // Everything the child uses is built here, before fork().
  std::vector<std::string> env_strings;
  if (options.environment) {
    env_strings = *options.environment;
  } else {
    for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  }
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings = options.argv;
  std::vector<char*> argv;
  for (std::string& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);

  auto p = std::unique_ptr<Subprocess>(new Subprocess());
  p->program_ = program;
  p->process_group_ = options.new_process_group;

  // Descriptors for the child (closed here after fork) and error cleanup.
  std::vector<int> child_side;
  auto close_child_side = [&child_side] {
    for (int& fd : child_side) CloseFd(fd);
    child_side.clear();
  };
  auto fail = [&](int error, absl::string_view what) {
    close_child_side();
    p->CloseCaptures();
    for (int& fd : p->pipe_fd_) CloseFd(fd);
    return ErrnoError(error, program, what);
  };
  auto open_fd = [&](const char* file, int flags) -> int {
    const int fd = open(file, flags | O_CLOEXEC, 0644);
    if (fd >= 0) child_side.push_back(fd);
    return fd;
  };

  int src[3] = {-1, -1, -1};
  switch (options.stdin_input.mode) {
    case SubprocessInput::Mode::kNull:
      src[0] = open_fd("/dev/null", O_RDONLY);
      if (src[0] < 0) return fail(errno, "open /dev/null");
      break;
    case SubprocessInput::Mode::kInherit:
      break;
    case SubprocessInput::Mode::kFd:
      src[0] = options.stdin_input.fd;
      break;
  }
  const SubprocessOutput* outputs[2] = {&options.stdout_output, &options.stderr_output};
  for (int i = 0; i < 2; ++i) {
    const SubprocessOutput& out = *outputs[i];
    switch (out.mode) {
      case SubprocessOutput::Mode::kInherit:
        break;
      case SubprocessOutput::Mode::kNull:
        src[i + 1] = open_fd("/dev/null", O_WRONLY);
        if (src[i + 1] < 0) return fail(errno, "open /dev/null");
        break;
      case SubprocessOutput::Mode::kFile:
        src[i + 1] =
            open_fd(out.path.c_str(), O_WRONLY | O_CREAT | (out.append ? O_APPEND : O_TRUNC));
        if (src[i + 1] < 0) return fail(errno, absl::StrCat("open ", out.path));
        break;
      case SubprocessOutput::Mode::kFd:
        src[i + 1] = out.fd;
        break;
      case SubprocessOutput::Mode::kCapture:
      case SubprocessOutput::Mode::kPipe: {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0) return fail(errno, "pipe2");
        child_side.push_back(fds[1]);
        src[i + 1] = fds[1];
        if (out.mode == SubprocessOutput::Mode::kPipe) {
          p->pipe_fd_[i] = fds[0];
        } else {
          p->capture_[i].fd = fds[0];
          p->capture_[i].max_bytes = out.max_bytes;
          p->capture_[i].keep = out.keep;
        }
        break;
      }
    }
  }
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) return fail(errno, "pipe2");
  child_side.push_back(report[1]);
  const char* working_directory =
      options.working_directory.empty() ? nullptr : options.working_directory.c_str();

  // Block every signal around fork() so that no handler runs in the child
  // before it resets them.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t parent = getpid();
  p->start_ = absl::Now();
  const pid_t pid = fork();
  if (pid == 0) {
    ExecChild(path.c_str(), argv.data(), envp.data(), working_directory, src,
              options.new_process_group, options.kill_with_parent, parent, report[1]);
  }
  const int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close_child_side();
  if (pid < 0) {
    close(report[0]);
    return fail(fork_errno, "fork");
  }
  p->pid_ = pid;
  // Both sides call setpgid, so the group exists before anyone signals it.
  if (options.new_process_group) setpgid(pid, pid);

  // The report pipe closes on exec (nothing read) or carries the failure.
  ChildFailure failure = {0, 0};
  size_t got = 0;
  while (got < sizeof(failure)) {
    const ssize_t n =
        read(report[0], reinterpret_cast<char*>(&failure) + got, sizeof(failure) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(report[0]);
  if (got == sizeof(failure)) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    p->reaped_ = true;
    std::string what = StageName(failure.stage);
    if (failure.stage == kStageChdir) absl::StrAppend(&what, " ", options.working_directory);
    if (failure.stage == kStageExec && path != program) absl::StrAppend(&what, " ", path);
    return fail(failure.error, what);
  }
#ifdef SYS_pidfd_open
  p->pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));  // close-on-exec by default
#endif
  return p;
}

Subprocess::~Subprocess() {
  if (pid_ > 0 && !reaped_) {
    SendSignal(SIGKILL).IgnoreError();
    int status;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  CloseCaptures();
  for (int& fd : pipe_fd_) CloseFd(fd);
  CloseFd(pidfd_);
}

absl::Status Subprocess::SendSignal(int signo) {
  if (kill(process_group_ ? -pid_ : pid_, signo) != 0) {
    const int error = errno;
    return absl::Status(absl::ErrnoToStatusCode(error),
                        absl::StrCat("cannot send signal ", signo, " to '", program_, "' (pid ",
                                     pid_, "): ", strerror(error)));
  }
  return absl::OkStatus();
}

absl::Status Subprocess::Signal(int signo) {
  if (reaped_) return absl::OkStatus();
  return SendSignal(signo);
}

void Subprocess::CloseCaptures() {
  for (Capture& c : capture_) CloseFd(c.fd);
}

bool Subprocess::ReadCaptures(absl::Time deadline) {
  char buf[65536];
  while (true) {
    pollfd fds[2];
    int index[2];
    nfds_t n = 0;
    for (int i = 0; i < 2; ++i) {
      if (capture_[i].fd < 0) continue;
      fds[n] = {capture_[i].fd, POLLIN, 0};
      index[n++] = i;
    }
    if (n == 0) return true;
    const int ready = poll(fds, n, PollTimeoutMs(deadline));
    if (ready < 0) {
      if (errno == EINTR) continue;
      CloseCaptures();  // cannot happen with valid descriptors; do not spin
      return true;
    }
    if (ready == 0) {
      if (absl::Now() >= deadline) return false;
      continue;
    }
    for (nfds_t k = 0; k < n; ++k) {
      if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) continue;
      Capture& c = capture_[index[k]];
      const ssize_t got = read(c.fd, buf, sizeof(buf));
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (got <= 0) {
        CloseFd(c.fd);
        continue;
      }
      c.total += static_cast<uint64_t>(got);
      if (c.keep == SubprocessOutput::Keep::kHead) {
        if (c.data.size() < c.max_bytes) {
          c.data.append(buf, std::min(static_cast<size_t>(got), c.max_bytes - c.data.size()));
        }
      } else {
        c.data.append(buf, static_cast<size_t>(got));
        // Trim now and then, not on every read.
        if (c.data.size() > c.max_bytes &&
            c.data.size() - c.max_bytes >= std::max<size_t>(c.max_bytes, 65536)) {
          c.data.erase(0, c.data.size() - c.max_bytes);
        }
      }
    }
  }
}

absl::StatusOr<bool> Subprocess::Reap(absl::Time deadline) {
  if (reaped_) return true;
  while (true) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, deadline == absl::InfiniteFuture() ? 0 : WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      result_.duration = absl::Now() - start_;
      if (WIFSIGNALED(status)) {
        result_.term_signal = WTERMSIG(status);
        result_.exit_code = 128 + result_.term_signal;
      } else {
        result_.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
      }
      CloseFd(pidfd_);
      return true;
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      return absl::Status(
          absl::ErrnoToStatusCode(error),
          absl::StrCat("cannot wait for '", program_, "' (pid ", pid_, "): ", strerror(error)));
    }
    const int timeout_ms = PollTimeoutMs(deadline);
    if (timeout_ms == 0) return false;
    if (pidfd_ >= 0) {
      pollfd pfd = {pidfd_, POLLIN, 0};
      poll(&pfd, 1, timeout_ms);  // readable once the child has exited
    } else {
      usleep(static_cast<useconds_t>(std::min(timeout_ms, 10)) * 1000);
    }
  }
}

SubprocessResult Subprocess::TakeResult() {
  SubprocessResult out = result_;
  for (int i = 0; i < 2; ++i) {
    Capture& c = capture_[i];
    if (c.keep == SubprocessOutput::Keep::kTail && c.data.size() > c.max_bytes) {
      c.data.erase(0, c.data.size() - c.max_bytes);
    }
    (i == 0 ? out.stdout_data : out.stderr_data) = std::move(c.data);
    (i == 0 ? out.stdout_bytes : out.stderr_bytes) = c.total;
    c.data.clear();
    c.total = 0;
  }
  return out;
}

absl::StatusOr<SubprocessResult> Subprocess::Wait(absl::Duration timeout) {
  const absl::Time deadline = DeadlineAfter(timeout);
  if (!ReadCaptures(deadline)) {
    return absl::DeadlineExceededError(absl::StrCat(
        "'", program_, "' (pid ", pid_, ") still writes after ", absl::FormatDuration(timeout)));
  }
  absl::StatusOr<bool> reaped = Reap(deadline);
  if (!reaped.ok()) return reaped.status();
  if (!*reaped) {
    return absl::DeadlineExceededError(absl::StrCat(
        "'", program_, "' (pid ", pid_, ") still runs after ", absl::FormatDuration(timeout)));
  }
  return TakeResult();
}

absl::StatusOr<SubprocessResult> Subprocess::Terminate(absl::Duration grace) {
  if (grace > absl::ZeroDuration()) {
    if (!reaped_) {
      absl::Status st = SendSignal(SIGTERM);
      if (!st.ok()) return st;
    }
    absl::StatusOr<SubprocessResult> done = Wait(grace);
    if (done.ok() || done.status().code() != absl::StatusCode::kDeadlineExceeded) return done;
  }
  if (!reaped_) {
    absl::Status st = SendSignal(SIGKILL);
    if (!st.ok()) return st;
  } else if (process_group_) {
    kill(-pid_, SIGKILL);  // what is left of its group holds a stream open
  }
  absl::StatusOr<bool> reaped = Reap(absl::InfiniteFuture());
  if (!reaped.ok()) return reaped.status();
  ReadCaptures(absl::Now() + absl::Seconds(1));
  CloseCaptures();
  return TakeResult();
}

absl::StatusOr<SubprocessResult> RunSubprocess(const SubprocessOptions& options,
                                               absl::Duration timeout, absl::Duration grace) {
  absl::StatusOr<std::unique_ptr<Subprocess>> p = Subprocess::Start(options);
  if (!p.ok()) return p.status();
  absl::StatusOr<SubprocessResult> result = (*p)->Wait(timeout);
  if (result.ok() || result.status().code() != absl::StatusCode::kDeadlineExceeded) {
    return result;
  }
  result = (*p)->Terminate(grace);
  if (result.ok()) result->timed_out = true;
  return result;
}

std::vector<std::string> EnvironmentWith(const std::vector<std::string>& overrides) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  for (const std::string& o : overrides) {
    const std::string name = o.substr(0, o.find('=') + 1);  // "NAME="
    auto it = std::find_if(env.begin(), env.end(),
                           [&](const std::string& e) { return absl::StartsWith(e, name); });
    if (it != env.end()) {
      *it = o;
    } else {
      env.push_back(o);
    }
  }
  return env;
}

}  // namespace arca
