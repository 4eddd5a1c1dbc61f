// The client side of a service that calls other services (the collector
// calls uploaders; the chunker calls collectors, compressors and uploaders):
//   --peer-ca FILE                   CA of the peers' server certificates
//                                    (default: --tls-client-ca, the bundle
//                                    that issues the arca identities)
//   --peer-cert FILE --peer-key FILE the identity shown to peers (default:
//                                    --tls-cert/--tls-key, this process's
//                                    own spiffe://TRUST_DOMAIN/arca/ROLE)
//   --peer-insecure                  plaintext to the peers (loopback only)
// Without any of them, peers are called the way this service serves:
// plaintext when it runs with --insecure, mutual TLS with its own identity
// otherwise. The files are re-read every --tls-reload-seconds.
#ifndef ARCA_SERVICES_COMMON_PEER_FLAGS_H_
#define ARCA_SERVICES_COMMON_PEER_FLAGS_H_

#include "absl/status/statusor.h"
#include "libs/base/cli_flags.h"
#include "services/common/client_channel.h"
#include "services/common/server.h"

namespace arca::services {

void AddPeerFlags(cli::FlagSpec* spec);

// InvalidArgument naming the flag: --peer-insecure together with a TLS peer
// flag; --peer-cert without --peer-key or the reverse.
absl::StatusOr<ClientTlsFlags> ParsePeerFlags(const cli::ParsedArgs& args,
                                              const ServerFlags& server);

}  // namespace arca::services

#endif  // ARCA_SERVICES_COMMON_PEER_FLAGS_H_
