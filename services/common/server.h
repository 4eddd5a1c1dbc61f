// What every arca service binary shares: the common command-line flags, a
// gRPC server with health checking, reflection, TLS or explicit plaintext and
// raised message limits, and a graceful shutdown on SIGTERM/SIGINT.
//
// Common flags (services/README.md):
//   --listen=HOST:PORT     address to serve on; port 0 picks a free port.
//                          Once serving, stdout gets exactly one line
//                          "listening on HOST:PORT" (the bound port), flushed.
//   --tls-cert FILE --tls-key FILE   this process's identity: a PEM certificate
//                          (chain) with the URI SAN spiffe://TRUST_DOMAIN/arca/ROLE
//                          and its key; served, and presented to peers
//   --tls-client-ca FILE   the CA bundle that client (and peer) certificates
//                          must chain to; required with TLS (mTLS everywhere)
//   --tls-reload-seconds N how often the three files are checked for
//                          rotation (default 60, 1..86400); no restart needed
//   --trust-domain NAME    TRUST_DOMAIN of the SPIFFE IDs (default "arca")
//   --insecure             serve plaintext, only on a loopback address
//                          (tests, one-node set-ups); without it the TLS
//                          flags are required
//   --reflection           serve gRPC reflection (off by default)
//   --drain-seconds N      on SIGTERM/SIGINT, let in-flight calls finish for
//                          up to N seconds (default 10), then cancel them
//   --metrics-listen=HOST:PORT  serve Prometheus metrics at /metrics (plain
//                          HTTP, port 0 picks one; metrics_server.h). Once
//                          serving, stdout gets "metrics listening on
//                          HOST:PORT" before the "listening on" line.
//   --health-listen=HOST:PORT  a second, plaintext gRPC server with only
//                          grpc.health.v1.Health (the statuses of the main
//                          server) for probes that cannot do mutual TLS
//                          (kubelet). Port 0 picks one; once serving, stdout
//                          gets "health listening on HOST:PORT" before the
//                          "listening on" line.
#ifndef ARCA_SERVICES_COMMON_SERVER_H_
#define ARCA_SERVICES_COMMON_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "libs/base/cli_flags.h"
#include "services/common/authorization.h"
#include "services/common/caller_authorizer.h"
#include "services/common/health_service.h"
#include "services/common/metrics_server.h"

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
  int drain_seconds = 10;     // 0..3600
  MetricsFlags metrics;       // --metrics-listen; empty listen: no endpoint
  std::string health_listen;  // --health-listen "HOST:PORT"; empty: no health server
  std::string health_host;    // its HOST part
  std::string trust_domain = kDefaultTrustDomain;
  int tls_reload_seconds = 60;  // 1..86400
  bool reflection = false;
  // Set by the binary, not common flags:
  // the role the process serves as: its certificate must carry this role's
  // SPIFFE ID (RunServer sets it from the program name);
  std::optional<Role> role;
  // the orchestrator's bearer token (--auth-token-file); "" = none. With a
  // token, TLS clients may come without a certificate (job API only).
  std::string auth_token;
};

// True for a loopback host: 127.0.0.0/8, ::1 ("[::1]" too) and "localhost".
bool IsLoopbackHost(const std::string& host);

// The common flags as a usage line shows them (after the binary's name).
inline constexpr char kServerFlagsUsage[] =
    "--listen=HOST:PORT (--insecure | --tls-cert FILE --tls-key FILE --tls-client-ca FILE) "
    "[--trust-domain NAME] [--tls-reload-seconds N] [--reflection] [--drain-seconds N] "
    "[--metrics-listen=HOST:PORT] [--health-listen=HOST:PORT]";

// Adds the common flags to `spec` (a service's own flags are added by it).
void AddServerFlags(cli::FlagSpec* spec);

// Reads and validates the common flags. InvalidArgument (the binary exits 2)
// naming the bad flag: --listen missing or not HOST:PORT with a port in
// 0..65535; --tls-cert without --tls-key or the reverse; --tls-cert without
// --tls-client-ca or the reverse (TLS is always mutual); neither TLS nor
// --insecure ("refusing to serve plaintext: ..."); --insecure together with
// TLS flags; --insecure on an address that is not loopback (what to use
// instead); --drain-seconds not an integer in 0..3600; --tls-reload-seconds
// not in 1..86400; an invalid --trust-domain; --health-listen not HOST:PORT
// or equal to --listen.
absl::StatusOr<ServerFlags> ParseServerFlags(const cli::ParsedArgs& args);

// Server credentials from the flags, with the caller authorizer
// (caller_authorizer.h) installed: for --insecure, gRPC's local credentials
// (plaintext that only loopback peers may open); else mutual TLS over the
// watched files (a client certificate chaining to --tls-client-ca is
// required, or optional when an auth token is set: token clients then
// come without one). `count_refused` sees every refused call (may be empty).
// InvalidArgument naming a file that cannot be read, holds no PEM
// certificate or key, a key that does not match its certificate, or a
// certificate without the SPIFFE ID of flags.role.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerFlags& flags, RefusedCallCounter count_refused = {});

struct StartedServer {
  // The statuses both servers serve ("" and each hosted service's full name
  // SERVING once started). Declared before the servers: destroyed after them.
  std::shared_ptr<HealthStatusTable> health;
  std::unique_ptr<HealthService> health_service;        // on `server`
  std::unique_ptr<HealthService> probe_health_service;  // on `health_server`
  std::unique_ptr<grpc::Server> server;
  int port = 0;         // the bound port
  std::string address;  // "HOST:PORT" with the bound port
  // With --health-listen: the plaintext server with only the health service.
  std::unique_ptr<grpc::Server> health_server;
  std::string health_address;  // "HOST:PORT" with the bound port, or ""
};

// Builds and starts a server for `services` (not owned; they must outlive the
// server) with health checking (grpc.health.v1 over StartedServer::health:
// "" and every name of `health_names` — the full names of the hosted
// services, e.g. "arca.v1.Collector" — SERVING; any other name NOT_FOUND),
// reflection when flags.reflection, every call authorized (authorization.h)
// and kMaxMessageBytes limits. When `metrics_service` is
// not empty, every RPC is counted and timed in the process registry
// (rpc_metrics.h: arca_<metrics_service>_rpcs_total, ..._rpc_duration_seconds),
// refused calls included.
// With flags.health_listen, also a plaintext server on that address hosting
// only the health service over the same table (no other method, no
// reflection: anything else is UNIMPLEMENTED), allowed under mutual TLS: it
// tells nothing but serving statuses.
// Does not print anything.
// Errors: those of MakeServerCredentials; Unavailable "cannot listen on X"
// when the address cannot be bound or the TLS files are not a valid key pair;
// Unavailable "cannot listen on X (--health-listen)" for the health address.
absl::StatusOr<StartedServer> StartServer(const ServerFlags& flags,
                                          const std::vector<grpc::Service*>& services,
                                          const std::string& metrics_service = "",
                                          const std::vector<std::string>& health_names = {});

// What a binary adds to RunServer besides its services.
struct ServeOptions {
  // Full names of the hosted services for health checks ("arca.v1.Chunker";
  // the generated `arca::v1::Chunker::service_full_name()`).
  std::vector<std::string> health_names;
  // Called once serving (after the "listening on" line) with the health
  // table, which it may keep and update (the orchestrator's phase health);
  // updates after the shutdown starts are ignored.
  std::function<void(std::shared_ptr<HealthStatusTable>)> on_serving;
  // Called after the signal, once the services are NOT_SERVING, before the
  // drain: the orchestrator ends its jobs there, so that WatchJob streams
  // still open deliver each job's final state before the server stops.
  std::function<void()> on_signal;
};

// The whole life of a service binary after flag parsing: installs the
// SIGTERM/SIGINT handlers (they only write a byte to a self-pipe), starts the
// server (StartServer), prints "health listening on HOST:PORT" (with
// --health-listen) and "listening on HOST:PORT" on stdout, calls
// options.on_serving, waits for a signal, then marks every service
// NOT_SERVING (on both servers), calls
// Shutdown(now + drain_seconds) so in-flight calls can finish (calls still
// running at the deadline are cancelled) and waits for the server to stop.
// Returns the process exit code: 0 after a signal-initiated shutdown, 2 when
// the server or its metrics endpoint cannot start (the message is printed on
// stderr prefixed by `program`). Metrics are named after `program` without
// its "arca-" prefix (arca-uploader → arca_uploader_...), registered in
// metrics::ProcessRegistry() and served with --metrics-listen. The same name
// is the process's role (flags.role, when not set) for its certificate.
// The health server stops after the main one.
int RunServer(const std::string& program, const ServerFlags& flags,
              const std::vector<grpc::Service*>& services, const ServeOptions& options = {});

// One log line on stderr: "<UTC time> <program>: <message>". Thread-safe.
void LogLine(const std::string& program, const std::string& message);

}  // namespace arca::services

#endif  // ARCA_SERVICES_COMMON_SERVER_H_
