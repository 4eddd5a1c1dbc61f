// The Prometheus endpoint of a service binary (DESIGN.md §8, issue 5):
//   --metrics-listen=HOST:PORT   serve GET /metrics (text format) on this
//                                address; port 0 picks a free port. HOST is a
//                                numeric IPv4 address, [IPv6] in brackets, or
//                                "localhost". Without the flag, no endpoint.
// The endpoint is plain HTTP on its own port (prometheus-cpp's Exposer over
// civetweb), separate from the gRPC port and its TLS.
#ifndef ARCA_SERVICES_COMMON_METRICS_SERVER_H_
#define ARCA_SERVICES_COMMON_METRICS_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "libs/base/cli_flags.h"
#include "prometheus/registry.h"

namespace prometheus {
class Exposer;
}  // namespace prometheus

namespace arca::services {

struct MetricsFlags {
  std::string listen;  // "HOST:PORT" as given; empty: no metrics endpoint
  std::string host;    // HOST part ("[::1]" keeps its brackets)
  int port = 0;        // 0..65535
};

// Adds --metrics-listen to `spec`.
void AddMetricsFlags(cli::FlagSpec* spec);

// Reads --metrics-listen (the last one wins). Absent: `listen` empty.
// InvalidArgument (the binary exits 2) naming the flag when the value is not
// HOST:PORT with a port in 0..65535.
absl::StatusOr<MetricsFlags> ParseMetricsFlags(const cli::ParsedArgs& args);

// A running /metrics endpoint. Destroying it stops serving (in-flight
// scrapes finish first); once it has served a scrape this takes up to 2 s
// (civetweb's fixed poll quantum in prometheus-cpp 1.0.1), so a binary should
// destroy it after its gRPC server has drained (or in parallel), not before.
// Thread-safe: the exposer serves scrapes on its own threads; the accessors
// are const.
class MetricsServer {
 public:
  // Serves `registry` (kept alive by the server) on flags.host:flags.port
  // at /metrics, after adding to it the gauges
  //   arca_build_info{service,version} 1
  //   process_start_time_seconds       the Unix time of this call
  // Errors: InvalidArgument when flags.listen is empty; Unavailable
  // "cannot serve metrics on HOST:PORT: ..." when the address cannot be bound
  // (taken, not local, malformed) — the Exposer's exception is caught here
  // and never escapes.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const MetricsFlags& flags, std::shared_ptr<prometheus::Registry> registry,
      const std::string& service, const std::string& version);

  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const { return port_; }                       // the bound port
  const std::string& address() const { return address_; }  // "HOST:PORT", bound port

 private:
  MetricsServer() = default;

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
  std::string address_;
};

}  // namespace arca::services

#endif  // ARCA_SERVICES_COMMON_METRICS_SERVER_H_
