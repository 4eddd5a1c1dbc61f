// Who may call what: arca's identities and its one role → RPC table
// (issue 10, DESIGN.md §7). Pure logic, no gRPC: caller_authorizer.h applies
// it to every call of every server.
//
// Identity. Every process carries an X.509 certificate whose URI SAN is the
// SPIFFE ID spiffe://TRUST_DOMAIN/arca/ROLE (the convention of Istio, Linkerd
// and SPIRE, so cert-manager or SPIRE can issue it). ROLE is one of
// collector, chunker, compressor, uploader, orchestrator, client.
//
// Authorization is default deny: a method that is not in the table is refused
// to everyone. The table (also in services/README.md, "Security model"):
//
//   Collector/Collect, Collector/WriteTree         chunker
//   Collector/EstimateCollect                       chunker, orchestrator
//   Chunker/RunBackup, Chunker/RunRestore           orchestrator
//   Compressor/Compress, Compressor/Decompress      chunker
//   Uploader/PutChunks, HasChunks, CommitSnapshot   chunker
//   Uploader/GetChunks, GetSnapshot, GetConfig,
//            ListSnapshots, GetSpace                chunker, orchestrator, collector
//   Uploader/Verify                                 orchestrator
//   Uploader/GetChunkIdKey (the id key)             chunker
//   Orchestrator/StartBackup, StartRestore, StartVerify, GetJob,
//                WatchJob, CancelJob, ListJobs, ListSnapshots
//                (the job API)                      client; or a bearer token
//   grpc.health.v1.Health/*                         any authenticated caller
//   grpc.reflection.*                               any authenticated caller, only
//                                                   with --reflection
//
// Thread-safety: everything here is immutable after construction.
#ifndef ARCA_SERVICES_COMMON_AUTHORIZATION_H_
#define ARCA_SERVICES_COMMON_AUTHORIZATION_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace arca::services {

enum class Role { kCollector, kChunker, kCompressor, kUploader, kOrchestrator, kClient };

// "collector", ... "client".
absl::string_view RoleName(Role role);
// The inverse of RoleName; nullopt for anything else.
std::optional<Role> RoleFromName(absl::string_view name);

// The default trust domain (--trust-domain).
inline constexpr char kDefaultTrustDomain[] = "arca";

// InvalidArgument unless `trust_domain` is a valid SPIFFE trust domain name:
// 1..255 characters of lower-case letters, digits, '.', '-' and '_'.
absl::Status CheckTrustDomain(absl::string_view trust_domain);

// "spiffe://TRUST_DOMAIN/arca/ROLE".
std::string SpiffeId(absl::string_view trust_domain, Role role);

// The role a SPIFFE ID names in `trust_domain`. PermissionDenied naming the
// ID when it is not exactly spiffe://TRUST_DOMAIN/arca/ROLE (another trust
// domain, another path, an unknown role).
absl::StatusOr<Role> RoleFromSpiffeId(absl::string_view spiffe_id, absl::string_view trust_domain);

// The caller of one RPC, as the transport established it.
struct Caller {
  enum class Kind {
    kLocal,        // plaintext on loopback (--insecure): no identity to check
    kCertificate,  // a verified client certificate
    kAnonymous,    // TLS without a client certificate
  };
  Kind kind = Kind::kAnonymous;
  // kCertificate: its SPIFFE ID ("" when the certificate carries none) and
  // the subject, for messages.
  std::string spiffe_id;
  std::string subject;
  // The request carried "authorization: Bearer <token>" equal to the
  // server's token (checked by the caller of Authorize).
  bool valid_token = false;
  // The request carried an authorization header at all.
  bool sent_token = false;

  // How messages name the caller: the SPIFFE ID, "certificate 'subject'
  // (no SPIFFE ID)", "a client without certificate", "a local plaintext
  // client".
  std::string Describe() const;
};

struct AuthorizationPolicy {
  std::string trust_domain = kDefaultTrustDomain;
  // The server accepts bearer tokens on its job API (the orchestrator with
  // --auth-token-file); empty: tokens are not a way in.
  bool token_configured = false;
  // grpc.reflection.* is served (--reflection).
  bool reflection = false;
};

// The roles allowed to call `full_method` ("/arca.v1.Uploader/PutChunks"),
// empty when nobody may (unknown methods, Chunker/Chunk). Health and
// reflection methods are not in the table: see Authorize.
std::vector<Role> AllowedRoles(absl::string_view full_method);

// In the table, or a health or reflection method: a bounded set, safe as a
// metric label (a refused call to anything else is counted as "unknown").
bool IsKnownMethod(absl::string_view full_method);

// Decides one call. OK when allowed. Errors (the call is refused with them):
//  - Unauthenticated when the server takes tokens, the method is on the job
//    API, and the caller has no certificate and no valid token ("no
//    authorization metadata: ..." / "the bearer token is not valid ...");
//  - PermissionDenied naming the caller (Caller::Describe), the method and
//    the roles that may call it, for every other refusal.
// A local plaintext caller may call everything (the token is still required
// on the job API when one is configured): plaintext is only ever served on
// loopback (server.h).
absl::Status Authorize(const Caller& caller, absl::string_view full_method,
                       const AuthorizationPolicy& policy);

}  // namespace arca::services

#endif  // ARCA_SERVICES_COMMON_AUTHORIZATION_H_
