#include "services/common/peer_flags.h"

namespace arca::services {

void AddPeerFlags(cli::FlagSpec* spec) {
  spec->value_flags.insert({"peer-ca", "peer-cert", "peer-key"});
  spec->bool_flags.insert("peer-insecure");
}

absl::StatusOr<ClientTlsFlags> ParsePeerFlags(const cli::ParsedArgs& args,
                                              const ServerFlags& server) {
  ClientTlsFlags tls;
  tls.ca = args.Last("peer-ca").value_or("");
  tls.cert = args.Last("peer-cert").value_or("");
  tls.key = args.Last("peer-key").value_or("");
  const bool any_tls = !tls.ca.empty() || !tls.cert.empty() || !tls.key.empty();
  if (args.Has("peer-insecure") && any_tls) {
    return absl::InvalidArgumentError(
        "--peer-insecure cannot be combined with --peer-ca/--peer-cert/--peer-key: choose one");
  }
  if (tls.cert.empty() != tls.key.empty()) {
    return absl::InvalidArgumentError("--peer-cert and --peer-key must be given together");
  }
  tls.insecure = args.Has("peer-insecure") || (!any_tls && server.insecure);
  if (!tls.insecure) {
    // One identity per process: by default the peers see this process's own
    // certificate and are checked against its own trust bundle.
    if (tls.cert.empty()) {
      tls.cert = server.tls_cert;
      tls.key = server.tls_key;
    }
    if (tls.ca.empty()) tls.ca = server.tls_client_ca;
  }
  tls.reload_seconds = server.tls_reload_seconds;
  tls.trust_domain = server.trust_domain;
  return tls;
}

}  // namespace arca::services
