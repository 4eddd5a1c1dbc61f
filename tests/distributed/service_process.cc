#include "tests/distributed/service_process.h"

#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/base/subprocess.h"

namespace arca::distributed {
namespace {

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
  SubprocessOptions spawn;
  spawn.argv = std::move(args);
  spawn.kill_with_parent = true;
  spawn.stdout_output = SubprocessOutput::Pipe();
  spawn.stderr_output = SubprocessOutput::File(process->stderr_path_);
  absl::StatusOr<std::unique_ptr<Subprocess>> child = Subprocess::Start(spawn);
  if (!child.ok()) return child.status();
  process->process_ = std::move(*child);
  const int stdout_fd = process->process_->stdout_fd();

  // Read stdout until the "listening on HOST:PORT" line.
  const absl::Time deadline = absl::Now() + timeout;
  std::string out;
  while (true) {
    const size_t nl = out.find('\n');
    if (nl != std::string::npos) {
      const std::string line = out.substr(0, nl);
      constexpr char kPrefix[] = "listening on ";
      constexpr char kMetricsPrefix[] = "metrics listening on ";
      constexpr char kHealthPrefix[] = "health listening on ";
      if (absl::StartsWith(line, kPrefix)) {
        process->address_ = line.substr(sizeof(kPrefix) - 1);
        return process;
      }
      if (absl::StartsWith(line, kMetricsPrefix)) {
        process->metrics_address_ = line.substr(sizeof(kMetricsPrefix) - 1);
      }
      if (absl::StartsWith(line, kHealthPrefix)) {
        process->health_address_ = line.substr(sizeof(kHealthPrefix) - 1);
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
    pollfd pfd = {stdout_fd, POLLIN, 0};
    int n = poll(&pfd, 1, wait_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char buf[4096];
    ssize_t got = read(stdout_fd, buf, sizeof(buf));
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
  if (process_ != nullptr && !process_->reaped()) Stop(absl::Seconds(10));
}

pid_t ServiceProcess::pid() const { return process_->pid(); }

void ServiceProcess::Signal(int signo) { process_->Signal(signo).IgnoreError(); }

int ServiceProcess::WaitExit(absl::Duration timeout) {
  absl::StatusOr<SubprocessResult> result = process_->Wait(timeout);
  return result.ok() ? result->exit_code : -1;
}

int ServiceProcess::Stop(absl::Duration timeout) {
  absl::StatusOr<SubprocessResult> result = process_->Terminate(timeout);
  return result.ok() ? result->exit_code : -1;
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
  SubprocessOptions options;
  options.argv = argv;
  options.kill_with_parent = true;
  options.stdout_output = SubprocessOutput::Capture();
  options.stderr_output = SubprocessOutput::Capture();
  // SIGKILL at the timeout, no grace.
  absl::StatusOr<SubprocessResult> result = RunSubprocess(options, timeout, absl::ZeroDuration());
  if (!result.ok()) {
    r.err = std::string(result.status().message());
    return r;
  }
  r.exit_code = result->exit_code;
  r.out = std::move(result->stdout_data);
  r.err = std::move(result->stderr_data);
  if (result->timed_out) r.err += "\n(killed after the timeout)";
  return r;
}

}  // namespace arca::distributed
