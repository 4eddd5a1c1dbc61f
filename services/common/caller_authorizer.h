// Applies the role table of authorization.h to every call of a server, in
// one place: a grpc::AuthMetadataProcessor installed on the server's
// credentials (server.cc) runs before any handler, for every service of the
// process, streams included. A refused call never reaches the service; it
// is counted in arca_<service>_rpcs_total{method,code} like any other.
//
// The caller's identity comes from the transport: the verified client
// certificate's SPIFFE ID (gRPC's peer_spiffe_id property), "local" on a
// plaintext loopback server (grpc::experimental::LocalServerCredentials), or
// none. The bearer token (orchestrator --auth-token-file) is compared here
// in constant time and removed from the metadata the handlers see.
#ifndef ARCA_SERVICES_COMMON_CALLER_AUTHORIZER_H_
#define ARCA_SERVICES_COMMON_CALLER_AUTHORIZER_H_

#include <functional>
#include <memory>
#include <string>

#include "grpcpp/security/auth_context.h"
#include "grpcpp/security/auth_metadata_processor.h"
#include "services/common/authorization.h"

namespace arca::services {

// Called with the full method and the refusal's code for every refused call.
using RefusedCallCounter = std::function<void(const std::string& full_method, int grpc_code)>;

// The caller of a call as `context` (its connection's auth context) and the
// request's metadata describe it; `token` is the server's bearer token ("" =
// none). Exposed for tests.
Caller CallerOf(const grpc::AuthContext& context,
                const grpc::AuthMetadataProcessor::InputMetadata& metadata,
                const std::string& token);

// `policy.token_configured` must equal !token.empty(). `count_refused` may
// be empty.
std::shared_ptr<grpc::AuthMetadataProcessor> MakeCallerAuthorizer(AuthorizationPolicy policy,
                                                                  std::string token,
                                                                  RefusedCallCounter count_refused);

}  // namespace arca::services

#endif  // ARCA_SERVICES_COMMON_CALLER_AUTHORIZER_H_
