// A throw-away Ceph RADOS Gateway (S3 API) on loopback, for tests and
// benchmarks of the S3 repository backend: one monitor, one OSD on memstore
// (all data in RAM), one radosgw, and an S3 user with fixed keys.
//
// Everything (conf, mon and osd data, logs, admin sockets, run dir) lives
// under the work directory given to Start; nothing under /etc/ceph,
// /var/lib/ceph or /var/run/ceph is read or written. Daemons run in the
// foreground as children in their own process groups with
// PR_SET_PDEATHSIG=SIGKILL: they die with the thread that started them.
// Start and StartGateway should therefore be called from a thread that
// outlives the server (the test's main thread).
//
// Cost: about 1.2 s to start on a 2-core machine, about 110-140
// MiB RSS idle plus the data stored (memstore keeps it in memory).
//
// radosgw runs with `rgw dns name = localhost`: requests whose Host is
// BUCKET.localhost[:PORT] are virtual-host style (libcurl resolves
// *.localhost to loopback itself), every other Host (127.0.0.1, localhost)
// is path style. Both work at once.
//
// Thread-safety: none; one thread owns the object. The accessors are
// constant after Start.
#ifndef ARCA_LIBS_TESTING_RGW_SERVER_H_
#define ARCA_LIBS_TESTING_RGW_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/base/subprocess.h"

namespace arca::testing {

struct RgwServerOptions {
  // Also serve HTTPS (beast ssl_endpoint) on a second loopback port with a
  // server certificate for IP 127.0.0.1 and DNS localhost (nothing else),
  // signed by a throw-away CA; both are generated with the openssl CLI under
  // work_dir/tls (P-256 keys, valid 2 days). Adds about 0.1 s to Start.
  bool tls = false;
};

class RgwServer {
 public:
  // Brings up mon, osd and radosgw under `work_dir` (created when missing;
  // should be empty), creates the S3 user and waits until radosgw answers
  // HTTP. Errors name the step or daemon and carry the tail of its log
  // (under work_dir/log); nothing is left running on error.
  static absl::StatusOr<std::unique_ptr<RgwServer>> Start(const std::string& work_dir,
                                                          const RgwServerOptions& options = {});

  // Stops every daemon (SIGTERM, SIGKILL after a few seconds) and reaps it.
  // Leaves work_dir in place.
  ~RgwServer();
  RgwServer(const RgwServer&) = delete;
  RgwServer& operator=(const RgwServer&) = delete;

  // "http://127.0.0.1:PORT" (path-style addressing).
  std::string endpoint() const;
  int port() const { return rgw_port_; }
  // With options.tls: "https://127.0.0.1:SSLPORT", its port, and the PEM file
  // of the CA that signed the server certificate (give it as ca_file /
  // --s3-ca). Empty / 0 without TLS.
  std::string https_endpoint() const;
  int https_port() const { return https_port_; }
  const std::string& ca_file() const { return ca_file_; }
  const std::string& access_key() const;
  const std::string& secret_key() const;
  // RGW accepts any region name in SigV4 by default; this is the one to use.
  const std::string& region() const;
  const std::string& work_dir() const { return work_dir_; }

  // Stops only radosgw; S3 requests then fail to connect. The cluster and
  // its data stay. OK when it is already stopped.
  absl::Status StopGateway();
  // Starts radosgw again on the same port and waits until it answers HTTP.
  // OK when it is already running. Unavailable with the log tail when it
  // does not come up.
  absl::Status StartGateway();
  bool gateway_running() const { return rgw_ != nullptr; }

  // Creates bucket `name` (S3 rules: 3-63 lowercase letters, digits, '-',
  // '.') through the curl CLI with SigV4. OK when it exists and is ours
  // already. Errors carry the HTTP status and the response body:
  // InvalidArgument (HTTP 400, e.g. a bad name), PermissionDenied (403),
  // AlreadyExists (409), Unavailable (no answer: gateway stopped).
  absl::Status CreateBucket(const std::string& name);

  // Pids of the running daemons (for tests that check nothing is left).
  std::vector<pid_t> daemon_pids() const;

 private:
  RgwServer(std::string work_dir, const RgwServerOptions& options)
      : work_dir_(std::move(work_dir)), options_(options) {}

  absl::Status Bootstrap();
  // The CA and the server certificate under work_dir/tls (options_.tls).
  absl::Status MakeCertificates();
  std::string Path(const std::string& relative) const { return work_dir_ + "/" + relative; }
  // Starts a daemon in the foreground, stderr into log/<log_name>.stderr.
  absl::StatusOr<std::unique_ptr<Subprocess>> StartDaemon(const std::string& log_name,
                                                          std::vector<std::string> argv);
  // Runs a ceph tool to completion; its stdout on success.
  absl::StatusOr<std::string> RunTool(std::vector<std::string> argv, const std::string& log_name);
  absl::Status WaitForHttp(absl::Duration timeout);
  void StopAll();

  std::string work_dir_;
  RgwServerOptions options_;
  std::string conf_;
  std::string ca_file_;
  int https_port_ = 0;
  int mon_port_ = 0;
  int rgw_port_ = 0;
  std::unique_ptr<Subprocess> mon_;
  std::unique_ptr<Subprocess> osd_;
  std::unique_ptr<Subprocess> rgw_;
};

}  // namespace arca::testing

#endif  // ARCA_LIBS_TESTING_RGW_SERVER_H_
