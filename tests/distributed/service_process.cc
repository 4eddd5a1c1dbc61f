#include "tests/distributed/service_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace arca::distributed {
namespace {

std::vector<char*> Argv(std::vector<std::string>& strings) {
  std::vector<char*> argv;
  for (std::string& s : strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  return argv;
}

// fork + exec with stdin from /dev/null, stdout to out_fd, stderr to err_fd;
// the child dies with the test process. Only async-signal-safe calls in the
// child (the test is multi-threaded).
pid_t Spawn(std::vector<std::string> args, int out_fd, int err_fd, bool search_path) {
  std::vector<char*> argv = Argv(args);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid != 0) return pid;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);
  int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd >= 0) dup2(null_fd, 0);
  dup2(out_fd, 1);
  dup2(err_fd, 2);
  // Default signal dispositions and mask for the service.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (search_path) {
    execvp(argv[0], argv.data());
  } else {
    execv(argv[0], argv.data());
  }
  _exit(127);
}

int DecodeWaitStatus(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string TmpDir() {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return tmp ? tmp : "/tmp";
}

}  // namespace

std::string Runfile(const std::string& workspace_path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const std::string base = srcdir ? srcdir : ".";
  for (const char* ws : {"/arca/", "/_main/"}) {
    std::string p = base + ws + workspace_path;
    if (access(p.c_str(), F_OK) == 0) return p;
  }
  return base + "/arca/" + workspace_path;
}

std::string TestTmpDir() { return TmpDir(); }

std::string NewTempDir(const std::string& name) {
  static std::atomic<int> counter{0};
  const std::string dir = absl::StrCat(TmpDir(), "/", name, ".", getpid(), ".", counter++);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

absl::StatusOr<std::unique_ptr<ServiceProcess>> ServiceProcess::Start(const std::string& binary,
                                                                      std::vector<std::string> args,
                                                                      absl::Duration timeout) {
  bool has_listen = false;
  for (const std::string& a : args) has_listen |= absl::StartsWith(a, "--listen");
  if (!has_listen) args.push_back("--listen=127.0.0.1:0");
  args.insert(args.begin(), binary);

  auto process = std::unique_ptr<ServiceProcess>(new ServiceProcess());
  static std::atomic<int> counter{0};
  process->stderr_path_ =
      absl::StrCat(TmpDir(), "/", std::filesystem::path(binary).filename().string(), ".", getpid(),
                   ".", counter++, ".stderr");
  int err_fd = open(process->stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int out_pipe[2];
  if (err_fd < 0 || pipe2(out_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("cannot set up the child's output: ", strerror(errno)));
  }
  process->pid_ = Spawn(args, out_pipe[1], err_fd, false);
  close(out_pipe[1]);
  close(err_fd);
  process->stdout_fd_ = out_pipe[0];
  if (process->pid_ < 0) {
    return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  }

  // Read stdout until the "listening on HOST:PORT" line.
  const absl::Time deadline = absl::Now() + timeout;
  std::string out;
  while (true) {
    const size_t nl = out.find('\n');
    if (nl != std::string::npos) {
      const std::string line = out.substr(0, nl);
      constexpr char kPrefix[] = "listening on ";
      constexpr char kMetricsPrefix[] = "metrics listening on ";
      if (absl::StartsWith(line, kPrefix)) {
        process->address_ = line.substr(sizeof(kPrefix) - 1);
        return process;
      }
      if (absl::StartsWith(line, kMetricsPrefix)) {
        process->metrics_address_ = line.substr(sizeof(kMetricsPrefix) - 1);
      }
      out.erase(0, nl + 1);
      continue;
    }
    const int wait_ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (wait_ms <= 0) {
      process->Stop(absl::Seconds(5));
      return absl::DeadlineExceededError(absl::StrCat(binary, " printed no 'listening on' line in ",
                                                      absl::FormatDuration(timeout), "; stderr:\n",
                                                      process->Stderr()));
    }
    pollfd pfd = {process->stdout_fd_, POLLIN, 0};
    int n = poll(&pfd, 1, wait_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char buf[4096];
    ssize_t got = read(process->stdout_fd_, buf, sizeof(buf));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      const int code = process->WaitExit(absl::Seconds(30));
      return absl::FailedPreconditionError(absl::StrCat(
          binary, " exited (code ", code, ") before listening; stderr:\n", process->Stderr()));
    }
    out.append(buf, static_cast<size_t>(got));
  }
}

ServiceProcess::~ServiceProcess() {
  if (exit_code_ < 0 && pid_ > 0) Stop(absl::Seconds(10));
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

void ServiceProcess::Signal(int signo) {
  if (exit_code_ < 0 && pid_ > 0) kill(pid_, signo);
}

int ServiceProcess::WaitExit(absl::Duration timeout) {
  if (exit_code_ >= 0 || pid_ <= 0) return exit_code_;
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = DecodeWaitStatus(status);
      return exit_code_;
    }
    if (r < 0 && errno != EINTR) return -1;
    if (absl::Now() >= deadline) return -1;
    absl::SleepFor(absl::Milliseconds(10));
  }
}

int ServiceProcess::Stop(absl::Duration timeout) {
  if (exit_code_ >= 0 || pid_ <= 0) return exit_code_;
  kill(pid_, SIGTERM);
  if (WaitExit(timeout) >= 0) return exit_code_;
  kill(pid_, SIGKILL);
  return WaitExit(absl::Seconds(60));
}

std::string ServiceProcess::Stderr() const {
  std::ifstream in(stderr_path_, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string RunResult::Describe() const {
  std::ostringstream s;
  s << "exit " << exit_code << "\n--- stdout ---\n"
    << out.substr(0, 4000) << "\n--- stderr ---\n"
    << err.substr(0, 4000);
  return s.str();
}

RunResult RunProgram(const std::vector<std::string>& argv, absl::Duration timeout) {
  RunResult r;
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    r.err = "pipe failed";
    return r;
  }
  const bool search_path = argv[0].find('/') == std::string::npos;
  const pid_t pid = Spawn(argv, out_pipe[1], err_pipe[1], search_path);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (pid < 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    r.err = "fork failed";
    return r;
  }
  const absl::Time deadline = absl::Now() + timeout;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  bool killed = false;
  char buf[65536];
  while (open_fds > 0) {
    int wait_ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (wait_ms <= 0) {
      if (!killed) kill(pid, SIGKILL);
      killed = true;
      wait_ms = 1000;
    }
    if (poll(fds, 2, wait_ms) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        sinks[i]->append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (pollfd& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = DecodeWaitStatus(status);
  if (killed) r.err += "\n(killed after the timeout)";
  return r;
}

}  // namespace arca::distributed
