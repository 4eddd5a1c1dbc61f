// Test support: a real Prometheus server (Debian's /usr/bin/prometheus)
// started on loopback, scraping given targets, queried over its HTTP API.
// For end-to-end tests of /metrics endpoints (issue 5: "a real Prometheus
// server started by the test on loopback ... queries the Prometheus HTTP API").
//
// Not thread-safe; one owner. The server is stopped (SIGTERM, then SIGKILL
// after 10 s) when the object is destroyed.
#ifndef ARCA_LIBS_METRICS_PROMETHEUS_PROCESS_H_
#define ARCA_LIBS_METRICS_PROMETHEUS_PROCESS_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/base/subprocess.h"

namespace arca::metrics {

// HTTP/1.0 GET of `target` (e.g. "/metrics") on 127.0.0.1:port: the status
// code and the body. Unavailable when nothing answers there.
absl::StatusOr<std::pair<int, std::string>> HttpGet(int port, const std::string& target);

class PrometheusProcess {
 public:
  struct Target {
    std::string job;      // the job label, e.g. "arca-collector"
    std::string address;  // "127.0.0.1:PORT" of a /metrics endpoint
  };
  struct Options {
    std::string work_dir;  // config, TSDB and log go here (e.g. TEST_TMPDIR/prom)
    std::vector<Target> targets;
    int scrape_interval_ms = 500;         // also the rule evaluation interval
    std::vector<std::string> rule_files;  // absolute paths, loaded as rule_files
    std::string binary = "/usr/bin/prometheus";
  };
  // One sample of an instant query's vector result.
  struct Sample {
    std::map<std::string, std::string> labels;  // __name__ included when present
    double value = 0;
  };

  // Writes the configuration, starts the server on a free loopback port and
  // waits (up to 30 s) until /-/ready answers 200.
  // Errors: FailedPrecondition when the binary is missing; Unavailable when
  // it exits or is not ready in time (the message carries the end of its log).
  static absl::StatusOr<std::unique_ptr<PrometheusProcess>> Start(const Options& options);

  ~PrometheusProcess();
  PrometheusProcess(const PrometheusProcess&) = delete;
  PrometheusProcess& operator=(const PrometheusProcess&) = delete;

  // GET /api/v1/query?query=... ; the vector result. InvalidArgument for a
  // query Prometheus rejects (with its error), Unavailable when it does not
  // answer.
  absl::StatusOr<std::vector<Sample>> Query(const std::string& promql);

  // Repeats Query until `accept` returns true for its result, or `timeout`
  // passes (DeadlineExceeded naming the query and the last result).
  absl::StatusOr<std::vector<Sample>> WaitFor(
      const std::string& promql, const std::function<bool(const std::vector<Sample>&)>& accept,
      std::chrono::milliseconds timeout);

  int port() const { return port_; }
  std::string log() const;  // what the server printed so far

 private:
  PrometheusProcess() = default;

  std::unique_ptr<Subprocess> process_;
  int port_ = 0;
  std::string log_path_;
};

}  // namespace arca::metrics

#endif  // ARCA_LIBS_METRICS_PROMETHEUS_PROCESS_H_
