// Client side of arca's services: channels with the same TLS choices and
// message limits as the servers (services/common/server.h), and a health
// probe. Used by services that call other services, the CLI and the tests.
#ifndef ARCA_SERVICES_COMMON_CLIENT_CHANNEL_H_
#define ARCA_SERVICES_COMMON_CLIENT_CHANNEL_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "services/common/authorization.h"

namespace arca::services {

struct ClientTlsFlags {
  // PEM file of the CA that signed the server's certificate; "" = the
  // system's default roots.
  std::string ca;
  // Client certificate and key (PEM files) for servers started with
  // --tls-client-ca; both or neither.
  std::string cert;
  std::string key;
  // Plaintext, only to loopback addresses; the other fields must then be
  // empty.
  bool insecure = false;
  // Overrides the name checked against the server certificate (default: the
  // host part of the address). For certificates issued to a name the address
  // does not carry.
  std::string server_name;
  // With cert and key: how often the three files are re-read (rotation of a
  // long-lived service's identity without a restart; gRPC's
  // FileWatcherCertificateProvider, one per set of files in the process).
  int reload_seconds = 60;
  // With cert and key, or with a CA file: the arca role the server must
  // prove, by the URI SAN
  // spiffe://trust_domain/arca/ROLE of its certificate (in addition to the
  // usual check of its name against the address); unset: any certificate of
  // the bundle with the right name. Callers that know whom they call (the
  // chunker's replicas, the orchestrator's phases, the collector's
  // uploaders) set it.
  std::optional<Role> server_role;
  std::string trust_domain = kDefaultTrustDomain;
  // Not TLS, but a property of the channel: the longest wait between
  // reconnection attempts to a server that is down (zero: gRPC's default,
  // up to 120 s). Probes that must notice a server coming back set it.
  absl::Duration max_reconnect_backoff = absl::ZeroDuration();
};

// A channel to `address` ("HOST:PORT", or any gRPC target URI) with send and
// receive limits of kMaxMessageBytes. The channel connects lazily: an
// unreachable server shows up as UNAVAILABLE on the first call.
// Errors: InvalidArgument for an empty address, cert without key (or the
// reverse), TLS files together with `insecure`, plaintext to an address that
// is not loopback, or a file that cannot be read (naming it).
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address,
                                                           const ClientTlsFlags& tls);

// InvalidArgument naming `what` and the address when `tls.insecure` and
// `address` is not HOST:PORT with a loopback host (server.h IsLoopbackHost).
absl::Status CheckPlaintextPeer(const std::string& what, const std::string& address,
                                const ClientTlsFlags& tls);

// Asks the server's grpc.health.v1.Health/Check about `service` ("" = the
// server as a whole). true when SERVING, false for any other serving status.
// Errors: the call's status (UNAVAILABLE when unreachable or refused,
// DEADLINE_EXCEEDED after `timeout`, NOT_FOUND for an unknown service name).
absl::StatusOr<bool> CheckServing(const std::shared_ptr<grpc::Channel>& channel,
                                  const std::string& service, absl::Duration timeout);

}  // namespace arca::services

#endif  // ARCA_SERVICES_COMMON_CLIENT_CHANNEL_H_
