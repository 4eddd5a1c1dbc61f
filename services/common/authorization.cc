#include "services/common/authorization.h"

#include <array>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace arca::services {
namespace {

constexpr std::array<std::pair<Role, absl::string_view>, 6> kRoleNames = {{
    {Role::kCollector, "collector"},
    {Role::kChunker, "chunker"},
    {Role::kCompressor, "compressor"},
    {Role::kUploader, "uploader"},
    {Role::kOrchestrator, "orchestrator"},
    {Role::kClient, "client"},
}};

constexpr absl::string_view kJobApiPrefix = "/arca.v1.Orchestrator/";
constexpr absl::string_view kHealthPrefix = "/grpc.health.v1.Health/";
constexpr absl::string_view kReflectionPrefix = "/grpc.reflection.";

struct Rule {
  absl::string_view method;  // full method name
  std::vector<Role> roles;
};

// The one table (authorization.h, services/README.md "Security model").
const std::vector<Rule>& Table() {
  using R = Role;
  static const auto* table = new std::vector<Rule>{
      {"/arca.v1.Collector/Collect", {R::kChunker}},
      {"/arca.v1.Collector/WriteTree", {R::kChunker}},
      {"/arca.v1.Collector/EstimateCollect", {R::kChunker, R::kOrchestrator}},
      {"/arca.v1.Chunker/RunBackup", {R::kOrchestrator}},
      {"/arca.v1.Chunker/RunRestore", {R::kOrchestrator}},
      {"/arca.v1.Compressor/Compress", {R::kChunker}},
      {"/arca.v1.Compressor/Decompress", {R::kChunker}},
      {"/arca.v1.Uploader/PutChunks", {R::kChunker}},
      {"/arca.v1.Uploader/HasChunks", {R::kChunker}},
      {"/arca.v1.Uploader/CommitSnapshot", {R::kChunker}},
      {"/arca.v1.Uploader/HoldWrite", {R::kChunker}},
      {"/arca.v1.Uploader/GetChunks", {R::kChunker, R::kOrchestrator, R::kCollector}},
      {"/arca.v1.Uploader/GetSnapshot", {R::kChunker, R::kOrchestrator, R::kCollector}},
      {"/arca.v1.Uploader/GetConfig", {R::kChunker, R::kOrchestrator, R::kCollector}},
      {"/arca.v1.Uploader/ListSnapshots", {R::kChunker, R::kOrchestrator, R::kCollector}},
      {"/arca.v1.Uploader/GetSpace", {R::kChunker, R::kOrchestrator, R::kCollector}},
      {"/arca.v1.Uploader/Verify", {R::kOrchestrator}},
      {"/arca.v1.Uploader/Forget", {R::kOrchestrator}},
      {"/arca.v1.Uploader/Gc", {R::kOrchestrator}},
      // The id key: only the role that names chunks (services/README.md).
      {"/arca.v1.Uploader/GetChunkIdKey", {R::kChunker}},
      {"/arca.v1.Orchestrator/StartBackup", {R::kClient}},
      {"/arca.v1.Orchestrator/StartRestore", {R::kClient}},
      {"/arca.v1.Orchestrator/StartVerify", {R::kClient}},
      {"/arca.v1.Orchestrator/StartForget", {R::kClient}},
      {"/arca.v1.Orchestrator/StartGc", {R::kClient}},
      {"/arca.v1.Orchestrator/GetJob", {R::kClient}},
      {"/arca.v1.Orchestrator/WatchJob", {R::kClient}},
      {"/arca.v1.Orchestrator/CancelJob", {R::kClient}},
      {"/arca.v1.Orchestrator/ListJobs", {R::kClient}},
      {"/arca.v1.Orchestrator/ListSnapshots", {R::kClient}},
      {"/arca.v1.Orchestrator/GetSnapshot", {R::kClient}},
  };
  return *table;
}

std::string RoleList(const std::vector<Role>& roles) {
  if (roles.empty()) return "nobody";
  return absl::StrJoin(roles, ", ",
                       [](std::string* out, Role r) { absl::StrAppend(out, RoleName(r)); });
}

}  // namespace

absl::string_view RoleName(Role role) {
  for (const auto& [r, name] : kRoleNames) {
    if (r == role) return name;
  }
  return "unknown";
}

std::optional<Role> RoleFromName(absl::string_view name) {
  for (const auto& [r, n] : kRoleNames) {
    if (n == name) return r;
  }
  return std::nullopt;
}

absl::Status CheckTrustDomain(absl::string_view trust_domain) {
  const bool valid_chars =
      !trust_domain.empty() && trust_domain.size() <= 255 &&
      trust_domain.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-_") ==
          absl::string_view::npos;
  if (!valid_chars) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid trust domain '", trust_domain,
        "': expected 1..255 characters of lower-case letters, digits, '.', '-' and '_' "
        "(the TRUST_DOMAIN of spiffe://TRUST_DOMAIN/arca/ROLE), e.g. --trust-domain=arca"));
  }
  return absl::OkStatus();
}

std::string SpiffeId(absl::string_view trust_domain, Role role) {
  return absl::StrCat("spiffe://", trust_domain, "/arca/", RoleName(role));
}

absl::StatusOr<Role> RoleFromSpiffeId(absl::string_view spiffe_id, absl::string_view trust_domain) {
  absl::string_view rest = spiffe_id;
  const std::string prefix = absl::StrCat("spiffe://", trust_domain, "/arca/");
  if (absl::ConsumePrefix(&rest, prefix)) {
    if (std::optional<Role> role = RoleFromName(rest)) return *role;
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "the certificate's SPIFFE ID '", spiffe_id, "' is not an arca identity of trust domain '",
      trust_domain, "' (expected spiffe://", trust_domain,
      "/arca/ROLE, ROLE one of collector, "
      "chunker, compressor, uploader, orchestrator, client)"));
}

std::string Caller::Describe() const {
  switch (kind) {
    case Kind::kLocal:
      return "a local plaintext client";
    case Kind::kAnonymous:
      return "a client without certificate";
    case Kind::kCertificate:
      if (!spiffe_id.empty()) return spiffe_id;
      return absl::StrCat("certificate '", subject, "' (no SPIFFE ID)");
  }
  return "an unknown caller";
}

std::vector<Role> AllowedRoles(absl::string_view full_method) {
  for (const Rule& rule : Table()) {
    if (rule.method == full_method) return rule.roles;
  }
  return {};
}

bool IsKnownMethod(absl::string_view full_method) {
  return !AllowedRoles(full_method).empty() || absl::StartsWith(full_method, kHealthPrefix) ||
         absl::StartsWith(full_method, kReflectionPrefix);
}

absl::Status Authorize(const Caller& caller, absl::string_view full_method,
                       const AuthorizationPolicy& policy) {
  const bool job_api = absl::StartsWith(full_method, kJobApiPrefix);
  // Bearer tokens: only on the job API of a server that has one; a caller
  // with a valid token is a client whatever else it presents.
  if (job_api && policy.token_configured && caller.valid_token) return absl::OkStatus();
  if (job_api && policy.token_configured && caller.kind != Caller::Kind::kCertificate) {
    return absl::UnauthenticatedError(
        caller.sent_token ? "the bearer token is not valid for this orchestrator"
                          : "no authorization metadata: send 'authorization: Bearer <token>' "
                            "(arca --token-file) or use a client certificate");
  }
  if (absl::StartsWith(full_method, kHealthPrefix)) return absl::OkStatus();
  if (absl::StartsWith(full_method, kReflectionPrefix) && policy.reflection) {
    return absl::OkStatus();
  }
  if (caller.kind == Caller::Kind::kLocal) return absl::OkStatus();

  const std::vector<Role> allowed = AllowedRoles(full_method);
  const std::string denied =
      absl::StrCat("permission denied: ", caller.Describe(), " may not call ", full_method,
                   " (allowed: ", RoleList(allowed), ")");
  if (caller.kind == Caller::Kind::kAnonymous) {
    return absl::PermissionDeniedError(
        absl::StrCat(denied,
                     "; present a client certificate with the SPIFFE ID of a role "
                     "that may call it"));
  }
  if (caller.spiffe_id.empty()) {
    return absl::PermissionDeniedError(absl::StrCat(denied,
                                                    "; the certificate needs the URI SAN spiffe://",
                                                    policy.trust_domain, "/arca/ROLE"));
  }
  absl::StatusOr<Role> role = RoleFromSpiffeId(caller.spiffe_id, policy.trust_domain);
  if (!role.ok()) {
    return absl::PermissionDeniedError(absl::StrCat(denied, "; ", role.status().message()));
  }
  for (Role r : allowed) {
    if (r == *role) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(denied);
}

}  // namespace arca::services
