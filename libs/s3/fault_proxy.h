// A TCP proxy for tests that stands in front of a real S3 server (Ceph RGW)
// and answers the first N requests of new connections with
// "503 Slow Down" and an S3 <Error><Code>SlowDown</Code> document, then
// forwards every later connection byte for byte. Not a mock: what is not
// refused reaches the real server.
//
// Thread-safety: Arm() and refused() may be called from any thread.
#ifndef ARCA_LIBS_S3_FAULT_PROXY_H_
#define ARCA_LIBS_S3_FAULT_PROXY_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace arca::s3 {

class FaultProxy {
 public:
  // Listens on 127.0.0.1 (a free port) and forwards to upstream_host:upstream_port.
  static absl::StatusOr<std::unique_ptr<FaultProxy>> Start(std::string upstream_host,
                                                           int upstream_port);
  ~FaultProxy();

  // "http://127.0.0.1:PORT".
  std::string endpoint() const;
  // The next `n` requests get 503 SlowDown. Open forwarded (keep-alive)
  // connections are closed first so that the next request opens a new one;
  // each refused request closes its connection.
  void Arm(int n);
  // While on, new requests are read and never answered (the client times
  // out); open forwarded connections are closed as by Arm().
  void Stall(bool on);
  // Connections accepted so far.
  int connections() const { return connections_.load(); }
  // Requests refused so far.
  int refused() const { return refused_.load(); }

 private:
  FaultProxy() = default;
  void AcceptLoop();
  void Serve(int client_fd);
  void CloseForwarded();

  std::string upstream_host_;
  int upstream_port_ = 0;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> faults_left_{0};
  std::atomic<bool> stall_{false};
  std::atomic<int> refused_{0};
  std::atomic<int> connections_{0};
  std::atomic<int> active_{0};
  std::thread acceptor_;
  absl::Mutex mu_;
  std::set<int> forwarding_ ABSL_GUARDED_BY(mu_);  // client sockets being forwarded
};

}  // namespace arca::s3

#endif  // ARCA_LIBS_S3_FAULT_PROXY_H_
