// What every arca service binary shares: the common command-line flags, a
// gRPC server with health checking, reflection, TLS or explicit plaintext and
// raised message limits, and a graceful shutdown on SIGTERM/SIGINT.
//
// Common flags (services/README.md):
//   --listen=HOST:PORT     address to serve on; port 0 picks a free port.
//                          Once serving, stdout gets exactly one line
//                          "listening on HOST:PORT" (the bound port), flushed.
//   --tls-cert FILE --tls-key FILE   serve TLS with this PEM certificate/key
//   --tls-client-ca FILE   require client certificates signed by this CA (mTLS)
//   --insecure             serve plaintext (loopback / tests); without it the
//                          TLS flags are required
//   --drain-seconds N      on SIGTERM/SIGINT, let in-flight calls finish for
//                          up to N seconds (default 10), then cancel them
//   --metrics-listen=HOST:PORT  serve Prometheus metrics at /metrics (plain
//                          HTTP, port 0 picks one; metrics_server.h). Once
//                          serving, stdout gets "metrics listening on
//                          HOST:PORT" before the "listening on" line.
#ifndef ARCA_SERVICES_COMMON_SERVER_H_
#define ARCA_SERVICES_COMMON_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "services/common/metrics_server.h"
#include "tools/arca/cli_flags.h"

namespace arca::services {

// Message limits of servers and channels: chunks are at most 64 MiB
// (kMaxBlobRawLength), so a message carrying one plus headers fits.
inline constexpr int kMaxMessageBytes = 80 << 20;

struct ServerFlags {
  std::string listen;    // "HOST:PORT" as given
  std::string host;      // HOST part ("[::1]" keeps its brackets)
  int port = 0;          // PORT part, 0..65535
  std::string tls_cert;  // paths; empty when not given
  std::string tls_key;
  std::string tls_client_ca;
  bool insecure = false;
  int drain_seconds = 10;  // 0..3600
  MetricsFlags metrics;    // --metrics-listen; empty listen: no endpoint
};

// Adds the common flags to `spec` (a service's own flags are added by it).
void AddServerFlags(cli::FlagSpec* spec);

// Reads and validates the common flags. InvalidArgument (the binary exits 2)
// naming the bad flag: --listen missing or not HOST:PORT with a port in
// 0..65535; --tls-cert without --tls-key or the reverse; --tls-client-ca
// without --tls-cert; neither TLS nor --insecure ("refusing to serve
// plaintext: pass --tls-cert/--tls-key, or --insecure"); --insecure together
// with TLS flags; --drain-seconds not an integer in 0..3600.
absl::StatusOr<ServerFlags> ParseServerFlags(const cli::ParsedArgs& args);

// Server credentials from the flags: plaintext for --insecure, else TLS with
// the key pair, and with --tls-client-ca a required, verified client
// certificate. InvalidArgument naming a file that cannot be read or is empty.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerFlags& flags);

struct StartedServer {
  std::unique_ptr<grpc::Server> server;
  int port = 0;         // the bound port
  std::string address;  // "HOST:PORT" with the bound port
};

// Builds and starts a server for `services` (not owned; they must outlive the
// server) with health checking (grpc.health.v1, every service SERVING) and
// reflection enabled and kMaxMessageBytes limits. When `metrics_service` is
// not empty, every RPC is counted and timed in the process registry
// (rpc_metrics.h: arca_<metrics_service>_rpcs_total, ..._rpc_duration_seconds).
// Does not print anything.
// Errors: those of MakeServerCredentials; Unavailable "cannot listen on X"
// when the address cannot be bound or the TLS files are not a valid key pair.
absl::StatusOr<StartedServer> StartServer(const ServerFlags& flags,
                                          const std::vector<grpc::Service*>& services,
                                          const std::string& metrics_service = "");

// The whole life of a service binary after flag parsing: installs the
// SIGTERM/SIGINT handlers (they only write a byte to a self-pipe), starts the
// server (StartServer), prints "listening on HOST:PORT" on stdout, waits for
// a signal, then marks every service NOT_SERVING, calls
// Shutdown(now + drain_seconds) so in-flight calls can finish (calls still
// running at the deadline are cancelled) and waits for the server to stop.
// Returns the process exit code: 0 after a signal-initiated shutdown, 2 when
// the server or its metrics endpoint cannot start (the message is printed on
// stderr prefixed by `program`). Metrics are named after `program` without
// its "arca-" prefix (arca-uploader → arca_uploader_...), registered in
// metrics::ProcessRegistry() and served with --metrics-listen.
int RunServer(const std::string& program, const ServerFlags& flags,
              const std::vector<grpc::Service*>& services);

// One log line on stderr: "<UTC time> <program>: <message>". Thread-safe.
void LogLine(const std::string& program, const std::string& message);

}  // namespace arca::services

#endif  // ARCA_SERVICES_COMMON_SERVER_H_
