// Test helpers for the distributed tests: start a service binary (a data
// dependency of the test) as a child process on a loopback port, find its
// address from its "listening on HOST:PORT" line, and make sure it never
// outlives the test (SIGTERM, then SIGKILL, in the destructor; the child also
// gets SIGKILL if the test process dies: PR_SET_PDEATHSIG). Processes are
// started with libs/base/subprocess.
#ifndef ARCA_TESTS_DISTRIBUTED_SERVICE_PROCESS_H_
#define ARCA_TESTS_DISTRIBUTED_SERVICE_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "libs/base/subprocess.h"
#include "services/common/testing.h"

namespace arca::distributed {

// Absolute path of a file of the workspace in the test's runfiles, e.g.
// Runfile("services/compressor/compressor").
std::string Runfile(const std::string& workspace_path);

// A fresh empty directory under TEST_TMPDIR.
std::string NewTempDir(const std::string& name);

// TEST_TMPDIR (/tmp without it): the directory every NewTempDir is in.
std::string TestTmpDir();

class ServiceProcess {
 public:
  // Starts `binary args... --listen=127.0.0.1:0` (no --listen is added when
  // args already has one) with stdout on a pipe and stderr appended to a log
  // file, and waits (up to `timeout`) for its "listening on" line.
  // Errors: those of Subprocess::Start when it cannot be started (e.g.
  // NotFound for a missing binary), FailedPrecondition when the process
  // exits first (with its exit code and stderr), DeadlineExceeded when it
  // prints nothing in time (the process is killed).
  static absl::StatusOr<std::unique_ptr<ServiceProcess>> Start(
      const std::string& binary, std::vector<std::string> args,
      absl::Duration timeout = absl::Seconds(60));

  // Stop() unless it already exited.
  ~ServiceProcess();
  ServiceProcess(const ServiceProcess&) = delete;
  ServiceProcess& operator=(const ServiceProcess&) = delete;

  const std::string& address() const { return address_; }
  // The /metrics endpoint ("HOST:PORT") when started with --metrics-listen
  // (its "metrics listening on" line), else "".
  const std::string& metrics_address() const { return metrics_address_; }
  // The plaintext health-only server ("HOST:PORT") when started with
  // --health-listen (its "health listening on" line), else "".
  const std::string& health_address() const { return health_address_; }
  pid_t pid() const;

  // Sends `signo` (no wait).
  void Signal(int signo);
  // Waits up to `timeout` for the process to exit; its exit code (128+N when
  // killed by signal N), or -1 if it is still running.
  int WaitExit(absl::Duration timeout);
  // SIGTERM, wait up to `timeout`, then SIGKILL and wait. The exit code as
  // in WaitExit.
  int Stop(absl::Duration timeout = absl::Seconds(30));
  // Everything the process wrote to stderr so far.
  std::string Stderr() const;

 private:
  ServiceProcess() = default;

  std::unique_ptr<Subprocess> process_;  // its stdout is a pipe read by Start
  std::string address_;
  std::string metrics_address_;
  std::string health_address_;
  std::string stderr_path_;
};

struct RunResult {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string out;
  std::string err;
  std::string Describe() const;
};

// Runs argv (argv[0] is a path, or a name looked up in PATH) to completion,
// killing it (SIGKILL) after `timeout`. When it cannot be started:
// exit_code -1 and the reason in `err`.
RunResult RunProgram(const std::vector<std::string>& argv,
                     absl::Duration timeout = absl::Seconds(300));

// Sends every request from a second thread while reading every response;
// returns the call's status. Works for any generated bidi stream (a
// std::unique_ptr<grpc::ClientReaderWriter<Req, Resp>>).
template <typename Req, typename Resp, typename Stream>
grpc::Status RunBidi(Stream& stream, const std::vector<Req>& requests, std::vector<Resp>* out) {
  return services::testing::DriveBidi<Req, Resp>(stream.get(), requests, out);
}

}  // namespace arca::distributed

#endif  // ARCA_TESTS_DISTRIBUTED_SERVICE_PROCESS_H_
