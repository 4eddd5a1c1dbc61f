#include "services/common/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/impl/server_builder_option.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "grpcpp/server_builder.h"
#include "libs/base/version.h"
#include "libs/metrics/registry.h"
#include "services/common/request_parse_interceptor.h"
#include "services/common/rpc_metrics.h"
#include "services/common/tls_files.h"

namespace arca::services {
namespace {

// The self-pipe of the termination signals: the handler only writes to it.
int g_signal_pipe[2] = {-1, -1};

void OnTerminationSignal(int signo) {
  const int saved = errno;
  const char byte = static_cast<char>(signo);
  [[maybe_unused]] ssize_t n = ::write(g_signal_pipe[1], &byte, 1);
  errno = saved;
}

absl::Status InstallSignalHandlers() {
  if (g_signal_pipe[0] < 0 && ::pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    return absl::InternalError(absl::StrCat("pipe2: ", std::strerror(errno)));
  }
  struct sigaction sa = {};
  sa.sa_handler = OnTerminationSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (::sigaction(SIGTERM, &sa, nullptr) != 0 || ::sigaction(SIGINT, &sa, nullptr) != 0) {
    return absl::InternalError(absl::StrCat("sigaction: ", std::strerror(errno)));
  }
  // A client that goes away must not kill the process (gRPC uses MSG_NOSIGNAL,
  // but stdout may be a closed pipe).
  ::signal(SIGPIPE, SIG_IGN);
  return absl::OkStatus();
}

// Blocks until a termination signal arrives; returns its number.
int WaitForTerminationSignal() {
  // The read end is non-blocking (so the handler's write never blocks); poll.
  while (true) {
    char byte = 0;
    ssize_t n = ::read(g_signal_pipe[0], &byte, 1);
    if (n == 1) return static_cast<unsigned char>(byte);
    if (n < 0 && errno != EAGAIN && errno != EINTR) return SIGTERM;
    fd_set fds;
    FD_ZERO(&fds);
    FD_SET(g_signal_pipe[0], &fds);
    ::select(g_signal_pipe[0] + 1, &fds, nullptr, nullptr, nullptr);
  }
}

// Splits "HOST:PORT" of `flag`; InvalidArgument naming the flag otherwise.
absl::Status SplitHostPort(const std::string& flag, const std::string& value, std::string* host,
                           int* port) {
  const size_t colon = value.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == value.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --", flag, " '", value, "': expected HOST:PORT, e.g. 0.0.0.0:7400"));
  }
  *host = value.substr(0, colon);
  const std::string digits = value.substr(colon + 1);
  if (digits.find_first_not_of("0123456789") != std::string::npos ||
      !absl::SimpleAtoi(digits, port) || *port < 0 || *port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --", flag, " '", value, "': the port must be a number in 0..65535"));
  }
  return absl::OkStatus();
}

// Removes every server builder plugin (reflection registers itself as one for
// every server of the process): the probe server hosts health only.
class NoPlugins final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->clear();
  }
};

}  // namespace

void AddServerFlags(cli::FlagSpec* spec) {
  for (const char* f : {"listen", "tls-cert", "tls-key", "tls-client-ca", "drain-seconds",
                        "tls-reload-seconds", "trust-domain", "health-listen"}) {
    spec->value_flags.insert(f);
  }
  spec->bool_flags.insert("insecure");
  spec->bool_flags.insert("reflection");
  AddMetricsFlags(spec);
}

absl::StatusOr<ServerFlags> ParseServerFlags(const cli::ParsedArgs& args) {
  ServerFlags flags;
  std::optional<std::string> listen = args.Last("listen");
  if (!listen || listen->empty()) {
    return absl::InvalidArgumentError("--listen=HOST:PORT is required (e.g. --listen=127.0.0.1:0)");
  }
  flags.listen = *listen;
  if (absl::Status st = SplitHostPort("listen", *listen, &flags.host, &flags.port); !st.ok()) {
    return st;
  }
  if (std::optional<std::string> health = args.Last("health-listen")) {
    int health_port = 0;
    if (absl::Status st = SplitHostPort("health-listen", *health, &flags.health_host, &health_port);
        !st.ok()) {
      return st;
    }
    if (*health == *listen && health_port != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--health-listen ", *health, " is the --listen address: give the probes their own port"));
    }
    flags.health_listen = *health;
  }
  flags.tls_cert = args.Last("tls-cert").value_or("");
  flags.tls_key = args.Last("tls-key").value_or("");
  flags.tls_client_ca = args.Last("tls-client-ca").value_or("");
  flags.insecure = args.Has("insecure");
  const bool any_tls =
      !flags.tls_cert.empty() || !flags.tls_key.empty() || !flags.tls_client_ca.empty();
  if (flags.insecure && any_tls) {
    return absl::InvalidArgumentError(
        "--insecure cannot be combined with --tls-cert/--tls-key/--tls-client-ca: choose one");
  }
  if (flags.tls_cert.empty() != flags.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key must be given together");
  }
  if (!flags.tls_client_ca.empty() && flags.tls_cert.empty()) {
    return absl::InvalidArgumentError(
        "--tls-client-ca needs --tls-cert and --tls-key (client certificates require TLS)");
  }
  if (!flags.insecure && flags.tls_cert.empty()) {
    return absl::InvalidArgumentError(
        "refusing to serve plaintext: pass --tls-cert FILE --tls-key FILE --tls-client-ca FILE "
        "(mutual TLS), or --insecure on a loopback address");
  }
  if (!flags.tls_cert.empty() && flags.tls_client_ca.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert needs --tls-client-ca FILE: every service requires client certificates "
        "(mutual TLS) to know who calls it; give the CA bundle that issues the arca identities");
  }
  if (flags.insecure && !IsLoopbackHost(flags.host)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "refusing to serve plaintext on ", flags.listen,
        ": --insecure is only allowed on a loopback address (127.0.0.1, [::1], localhost), "
        "where no other host can connect; to serve other hosts use mutual TLS "
        "(--tls-cert, --tls-key, --tls-client-ca)"));
  }
  flags.reflection = args.Has("reflection");
  if (std::optional<std::string> td = args.Last("trust-domain")) flags.trust_domain = *td;
  if (absl::Status st = CheckTrustDomain(flags.trust_domain); !st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--trust-domain: ", st.message()));
  }
  if (std::optional<std::string> reload = args.Last("tls-reload-seconds")) {
    if (!absl::SimpleAtoi(*reload, &flags.tls_reload_seconds) || flags.tls_reload_seconds < 1 ||
        flags.tls_reload_seconds > 86400) {
      return absl::InvalidArgumentError(absl::StrCat("invalid --tls-reload-seconds '", *reload,
                                                     "': expected an integer in 1..86400"));
    }
  }
  absl::StatusOr<MetricsFlags> metrics = ParseMetricsFlags(args);
  if (!metrics.ok()) return metrics.status();
  flags.metrics = *std::move(metrics);
  if (std::optional<std::string> drain = args.Last("drain-seconds")) {
    if (!absl::SimpleAtoi(*drain, &flags.drain_seconds) || flags.drain_seconds < 0 ||
        flags.drain_seconds > 3600) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid --drain-seconds '", *drain, "': expected an integer in 0..3600"));
    }
  }
  return flags;
}

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost") return true;
  std::string h = host;
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  in_addr v4;
  if (::inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  if (::inet_pton(AF_INET6, h.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerFlags& flags, RefusedCallCounter count_refused) {
  std::shared_ptr<grpc::ServerCredentials> creds;
  if (flags.insecure) {
    // Plaintext that only loopback peers may open; unlike
    // InsecureServerCredentials it runs the caller authorizer.
    creds = grpc::experimental::LocalServerCredentials(LOCAL_TCP);
  } else {
    absl::StatusOr<CertificateInfo> identity =
        LoadKeyPair("--tls-cert", flags.tls_cert, "--tls-key", flags.tls_key);
    if (!identity.ok()) return identity.status();
    if (flags.role) {
      const std::string want = SpiffeId(flags.trust_domain, *flags.role);
      if (std::find(identity->uri_sans.begin(), identity->uri_sans.end(), want) ==
          identity->uri_sans.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--tls-cert ", flags.tls_cert, ": the certificate (", identity->subject,
            ") is not this process's identity: it needs the URI SAN ", want,
            identity->uri_sans.empty() ? " and has none"
                                       : absl::StrCat(" but has ", identity->uri_sans[0]),
            " (issue one per role: README.md, \"Security model\")"));
      }
    }
    if (flags.tls_client_ca.empty()) {
      return absl::InvalidArgumentError("--tls-client-ca is required with --tls-cert");
    }
    if (absl::Status st = CheckCaBundle("--tls-client-ca", flags.tls_client_ca); !st.ok())
      return st;
    auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        flags.tls_key, flags.tls_cert, flags.tls_client_ca,
        static_cast<unsigned int>(flags.tls_reload_seconds));
    grpc::experimental::TlsServerCredentialsOptions options(provider);
    options.watch_root_certs();
    options.watch_identity_key_cert_pairs();
    options.set_cert_request_type(flags.auth_token.empty()
                                      ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                      : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
    creds = grpc::experimental::TlsServerCredentials(options);
  }
  AuthorizationPolicy policy;
  policy.trust_domain = flags.trust_domain;
  policy.token_configured = !flags.auth_token.empty();
  policy.reflection = flags.reflection;
  creds->SetAuthMetadataProcessor(
      MakeCallerAuthorizer(policy, flags.auth_token, std::move(count_refused)));
  return creds;
}

absl::StatusOr<StartedServer> StartServer(const ServerFlags& flags,
                                          const std::vector<grpc::Service*>& services,
                                          const std::string& metrics_service,
                                          const std::vector<std::string>& health_names) {
  RefusedCallCounter count_refused;
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> rpc_metrics;
  if (!metrics_service.empty()) {
    RpcMetricFamilies families = RegisterRpcMetrics(*metrics::ProcessRegistry(), metrics_service);
    count_refused = [families](const std::string& method, int code) {
      CountRefusedRpc(families, method, code);
    };
    rpc_metrics = MakeRpcMetricsInterceptor(families);
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds =
      MakeServerCredentials(flags, std::move(count_refused));
  if (!creds.ok()) return creds.status();
  // Health is served by HealthService (health_service.h) over one table, so
  // that the probe server below can answer the same statuses.
  grpc::EnableDefaultHealthCheckService(false);
  StartedServer started;
  started.health = std::make_shared<HealthStatusTable>();
  started.health_service = std::make_unique<HealthService>(started.health.get());
  // A process-wide switch: once on, every later server of the process has
  // reflection (the service binaries start one server).
  if (flags.reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(flags.listen, *creds, &bound_port);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  // gRPC sets SO_REUSEPORT by default, which lets a second server silently
  // share a port that is already taken: refuse that instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    // The metrics interceptor comes after the parse one: it counts the code
    // the caller gets.
    creators.push_back(MakeRequestParseInterceptor());
    if (rpc_metrics) creators.push_back(std::move(rpc_metrics));
    builder.experimental().SetInterceptorCreators(std::move(creators));
  }
  for (grpc::Service* service : services) builder.RegisterService(service);
  builder.RegisterService(started.health_service.get());
  started.server = builder.BuildAndStart();
  if (started.server == nullptr || bound_port == 0) {
    if (started.server) started.server->Shutdown();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", flags.listen,
                     ": the address is in use or invalid, or the TLS certificate and key do not "
                     "form a valid pair; check --listen and the TLS files"));
  }
  started.port = bound_port;
  started.address = absl::StrCat(flags.host, ":", bound_port);
  if (!flags.health_listen.empty()) {
    started.probe_health_service = std::make_unique<HealthService>(started.health.get());
    grpc::ServerBuilder probe;
    int probe_port = 0;
    // Plaintext on purpose: kubelet's gRPC probe has no TLS. Only the health
    // service is registered, so nothing else is reachable on this port.
    probe.AddListeningPort(flags.health_listen, grpc::InsecureServerCredentials(), &probe_port);
    probe.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    probe.SetOption(std::make_unique<NoPlugins>());
    probe.RegisterService(started.probe_health_service.get());
    started.health_server = probe.BuildAndStart();
    if (started.health_server == nullptr || probe_port == 0) {
      if (started.health_server) started.health_server->Shutdown();
      started.server->Shutdown();
      return absl::UnavailableError(absl::StrCat("cannot listen on ", flags.health_listen,
                                                 " (--health-listen): the address is in use or "
                                                 "invalid; check --health-listen"));
    }
    started.health_address = absl::StrCat(flags.health_host, ":", probe_port);
  }
  started.health->Set("", true);
  for (const std::string& name : health_names) started.health->Set(name, true);
  return started;
}

static void KeepLargeBuffersInTheHeap() {
  // Chunks and blobs are 256 KiB to 64 MiB buffers allocated and freed per
  // chunk. Above glibc's mmap threshold each one is a fresh mmap: page faults
  // and zero-filling for every chunk, then munmap (perf: ~0.3 CPU s per GiB
  // across the services). Serve them from the heap and keep up to 128 MiB of
  // freed memory per arena instead (measured: -3 % CPU and wall of a
  // distributed /usr/share backup; services/README.md).
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
}

int RunServer(const std::string& program, const ServerFlags& flags,
              const std::vector<grpc::Service*>& services, const ServeOptions& options) {
  KeepLargeBuffersInTheHeap();
  if (absl::Status st = InstallSignalHandlers(); !st.ok()) {
    std::cerr << program << ": " << st.message() << "\n";
    return 1;
  }
  const std::string service = absl::StartsWith(program, "arca-") ? program.substr(5) : program;
  std::unique_ptr<MetricsServer> metrics;
  if (!flags.metrics.listen.empty()) {
    absl::StatusOr<std::unique_ptr<MetricsServer>> m =
        MetricsServer::Start(flags.metrics, metrics::ProcessRegistry(), service, kArcaVersion);
    if (!m.ok()) {
      std::cerr << program << ": " << m.status().message() << " (exit 2)\n";
      return 2;
    }
    metrics = *std::move(m);
  }
  ServerFlags serving = flags;
  if (!serving.role) serving.role = RoleFromName(service);
  absl::StatusOr<StartedServer> started =
      StartServer(serving, services, service, options.health_names);
  if (!started.ok()) {
    std::cerr << program << ": " << started.status().message() << " (exit 2)\n";
    return 2;
  }
  if (metrics) {
    std::cout << "metrics listening on " << metrics->address() << "\n";
    LogLine(program, absl::StrCat("metrics on http://", metrics->address(), "/metrics"));
  }
  if (started->health_server) {
    std::cout << "health listening on " << started->health_address << "\n";
    LogLine(program, absl::StrCat("health checks (only) on ", started->health_address,
                                  " (plaintext, for probes)"));
  }
  std::cout << "listening on " << started->address << std::endl;  // flushed
  LogLine(
      program,
      absl::StrCat(
          "serving on ", started->address,
          flags.insecure
              ? " (plaintext, loopback only: every local caller trusted)"
              : absl::StrCat(
                    " (mutual TLS as ",
                    serving.role ? SpiffeId(flags.trust_domain, *serving.role) : std::string("?"),
                    flags.auth_token.empty() ? "" : "; token clients on the job API", ")")));
  if (options.on_serving) options.on_serving(started->health);
  const int signo = WaitForTerminationSignal();
  LogLine(program,
          absl::StrCat("received ", signo == SIGINT ? "SIGINT" : "SIGTERM",
                       ": draining in-flight calls for up to ", flags.drain_seconds, " s"));
  // NOT_SERVING on both servers: load balancers and probes stop sending new
  // calls; the probe server keeps answering that during the drain.
  started->health->Shutdown();
  if (options.on_signal) options.on_signal();
  const auto deadline =
      std::chrono::system_clock::now() + std::chrono::seconds(flags.drain_seconds);
  started->server->Shutdown(deadline);
  started->server->Wait();
  if (started->health_server) {
    started->health_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    started->health_server->Wait();
  }
  metrics.reset();  // after the drain: a last scrape sees the final counts
  LogLine(program, "stopped");
  return 0;
}

void LogLine(const std::string& program, const std::string& message) {
  const std::string line =
      absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()), " ",
                   program, ": ", message, "\n");
  // One write(2) per line so concurrent lines do not interleave.
  [[maybe_unused]] ssize_t n = ::write(2, line.data(), line.size());
}

}  // namespace arca::services
