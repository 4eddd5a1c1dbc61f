#include "services/common/authorization.h"

#include <string>
#include <vector>

#include "arca/v1/chunker.grpc.pb.h"
#include "arca/v1/collector.grpc.pb.h"
#include "arca/v1/compressor.grpc.pb.h"
#include "arca/v1/orchestrator.grpc.pb.h"
#include "arca/v1/uploader.grpc.pb.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"

namespace arca::services {
namespace {

Caller WithCertificate(const std::string& spiffe_id) {
  Caller c;
  c.kind = Caller::Kind::kCertificate;
  c.spiffe_id = spiffe_id;
  c.subject = "/CN=test";
  return c;
}

TEST(Authorization, SpiffeIdsRoundTripForEveryRole) {
  for (Role r : {Role::kCollector, Role::kChunker, Role::kCompressor, Role::kUploader,
                 Role::kOrchestrator, Role::kClient}) {
    const std::string id = SpiffeId("example.org", r);
    EXPECT_EQ(id, "spiffe://example.org/arca/" + std::string(RoleName(r)));
    absl::StatusOr<Role> back = RoleFromSpiffeId(id, "example.org");
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, r);
    EXPECT_EQ(RoleFromName(RoleName(r)), r);
  }
}

TEST(Authorization, ForeignOrMalformedSpiffeIdsNameNoRole) {
  for (const char* id :
       {"spiffe://other/arca/chunker", "spiffe://arca/arca/chunker/x", "spiffe://arca/arca/",
        "spiffe://arca/arca/root", "spiffe://arca/chunker", "https://arca/arca/chunker",
        "spiffe://arca.evil/arca/chunker", "spiffe://arc/arca/chunker", ""}) {
    absl::StatusOr<Role> role = RoleFromSpiffeId(id, "arca");
    EXPECT_EQ(role.status().code(), absl::StatusCode::kPermissionDenied) << id;
    EXPECT_NE(role.status().message().find("spiffe://arca/arca/ROLE"), std::string::npos);
  }
}

TEST(Authorization, TrustDomainSyntax) {
  EXPECT_TRUE(CheckTrustDomain("arca").ok());
  EXPECT_TRUE(CheckTrustDomain("cluster-1.example_org").ok());
  for (const char* bad : {"", "Arca", "a/b", "a b", "arca:80", "ärca"}) {
    EXPECT_EQ(CheckTrustDomain(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(CheckTrustDomain(std::string(256, 'a')).ok());
}

// The table, row by row: each role may call exactly what the table says.
TEST(Authorization, EveryPrivilegedMethodAllowsExactlyItsRoles) {
  const std::vector<std::pair<std::string, std::vector<Role>>> expected = {
      {"/arca.v1.Collector/Collect", {Role::kChunker}},
      {"/arca.v1.Collector/WriteTree", {Role::kChunker}},
      {"/arca.v1.Collector/EstimateCollect", {Role::kChunker, Role::kOrchestrator}},
      {"/arca.v1.Chunker/RunBackup", {Role::kOrchestrator}},
      {"/arca.v1.Chunker/RunRestore", {Role::kOrchestrator}},
      {"/arca.v1.Chunker/Chunk", {}},
      {"/arca.v1.Compressor/Compress", {Role::kChunker}},
      {"/arca.v1.Compressor/Decompress", {Role::kChunker}},
      {"/arca.v1.Uploader/PutChunks", {Role::kChunker}},
      {"/arca.v1.Uploader/HasChunks", {Role::kChunker}},
      {"/arca.v1.Uploader/CommitSnapshot", {Role::kChunker}},
      {"/arca.v1.Uploader/GetChunks", {Role::kChunker, Role::kOrchestrator, Role::kCollector}},
      {"/arca.v1.Uploader/GetSnapshot", {Role::kChunker, Role::kOrchestrator, Role::kCollector}},
      {"/arca.v1.Uploader/ListSnapshots", {Role::kChunker, Role::kOrchestrator, Role::kCollector}},
      {"/arca.v1.Uploader/GetSpace", {Role::kChunker, Role::kOrchestrator, Role::kCollector}},
      {"/arca.v1.Uploader/GetConfig", {Role::kChunker, Role::kOrchestrator, Role::kCollector}},
      {"/arca.v1.Uploader/Verify", {Role::kOrchestrator}},
      // The id key of an encrypted repository: the chunker alone.
      {"/arca.v1.Uploader/GetChunkIdKey", {Role::kChunker}},
      {"/arca.v1.Orchestrator/StartBackup", {Role::kClient}},
      {"/arca.v1.Orchestrator/ListJobs", {Role::kClient}},
      {"/arca.v1.Orchestrator/NoSuchMethod", {}},
      {"/arca.v1.Uploader/DeleteEverything", {}},
  };
  AuthorizationPolicy policy;
  for (const auto& [method, allowed] : expected) {
    for (Role r : {Role::kCollector, Role::kChunker, Role::kCompressor, Role::kUploader,
                   Role::kOrchestrator, Role::kClient}) {
      const bool want = std::find(allowed.begin(), allowed.end(), r) != allowed.end();
      absl::Status st = Authorize(WithCertificate(SpiffeId("arca", r)), method, policy);
      EXPECT_EQ(st.ok(), want) << method << " by " << RoleName(r) << ": " << st;
      if (!want) {
        EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied);
        // Names the caller, the method and who may call it.
        EXPECT_NE(st.message().find(SpiffeId("arca", r)), std::string::npos) << st;
        EXPECT_NE(st.message().find(method), std::string::npos) << st;
        EXPECT_NE(st.message().find("allowed: "), std::string::npos) << st;
      }
    }
  }
}

TEST(Authorization, AnotherTrustDomainOrNoSpiffeIdIsDenied) {
  AuthorizationPolicy policy;
  absl::Status other = Authorize(WithCertificate("spiffe://evil/arca/chunker"),
                                 "/arca.v1.Uploader/PutChunks", policy);
  EXPECT_EQ(other.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(other.message().find("spiffe://evil/arca/chunker"), std::string::npos) << other;
  absl::Status none = Authorize(WithCertificate(""), "/arca.v1.Uploader/PutChunks", policy);
  EXPECT_EQ(none.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(none.message().find("no SPIFFE ID"), std::string::npos) << none;
  policy.trust_domain = "evil";
  EXPECT_TRUE(Authorize(WithCertificate("spiffe://evil/arca/chunker"),
                        "/arca.v1.Uploader/PutChunks", policy)
                  .ok());
}

TEST(Authorization, HealthIsOpenReflectionOnlyWhenServed) {
  AuthorizationPolicy policy;
  Caller anonymous;
  EXPECT_TRUE(Authorize(anonymous, "/grpc.health.v1.Health/Check", policy).ok());
  EXPECT_TRUE(Authorize(WithCertificate(SpiffeId("arca", Role::kCompressor)),
                        "/grpc.health.v1.Health/Watch", policy)
                  .ok());
  const std::string reflection = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
  EXPECT_EQ(Authorize(WithCertificate(SpiffeId("arca", Role::kClient)), reflection, policy).code(),
            absl::StatusCode::kPermissionDenied);
  policy.reflection = true;
  EXPECT_TRUE(Authorize(WithCertificate(SpiffeId("arca", Role::kClient)), reflection, policy).ok());
}

TEST(Authorization, TokensOpenOnlyTheJobApi) {
  AuthorizationPolicy policy;
  policy.token_configured = true;
  Caller token_client;  // TLS without certificate, valid token
  token_client.sent_token = token_client.valid_token = true;
  EXPECT_TRUE(Authorize(token_client, "/arca.v1.Orchestrator/StartBackup", policy).ok());
  // Not on another service's API, even on a server that takes tokens.
  EXPECT_EQ(Authorize(token_client, "/arca.v1.Uploader/Verify", policy).code(),
            absl::StatusCode::kPermissionDenied);
  // Not where no token is configured.
  AuthorizationPolicy no_token;
  EXPECT_EQ(Authorize(token_client, "/arca.v1.Orchestrator/StartBackup", no_token).code(),
            absl::StatusCode::kPermissionDenied);
  Caller wrong;
  wrong.sent_token = true;
  absl::Status st = Authorize(wrong, "/arca.v1.Orchestrator/ListJobs", policy);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(st.message().find("not valid"), std::string::npos) << st;
  absl::Status missing = Authorize(Caller(), "/arca.v1.Orchestrator/ListJobs", policy);
  EXPECT_EQ(missing.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(missing.message().find("no authorization metadata"), std::string::npos) << missing;
  // A client certificate needs no token; a certificate of another role does.
  EXPECT_TRUE(Authorize(WithCertificate(SpiffeId("arca", Role::kClient)),
                        "/arca.v1.Orchestrator/ListJobs", policy)
                  .ok());
  EXPECT_EQ(Authorize(WithCertificate(SpiffeId("arca", Role::kChunker)),
                      "/arca.v1.Orchestrator/ListJobs", policy)
                .code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(Authorization, LocalPlaintextCallersAreTrustedButStillNeedTheToken) {
  Caller local;
  local.kind = Caller::Kind::kLocal;
  AuthorizationPolicy policy;
  EXPECT_TRUE(Authorize(local, "/arca.v1.Uploader/CommitSnapshot", policy).ok());
  EXPECT_TRUE(Authorize(local, "/arca.v1.Orchestrator/StartBackup", policy).ok());
  policy.token_configured = true;
  EXPECT_EQ(Authorize(local, "/arca.v1.Orchestrator/StartBackup", policy).code(),
            absl::StatusCode::kUnauthenticated);
  local.sent_token = local.valid_token = true;
  EXPECT_TRUE(Authorize(local, "/arca.v1.Orchestrator/StartBackup", policy).ok());
}

TEST(Authorization, AnonymousTlsClientsAreDeniedEverythingButHealth) {
  Caller anonymous;
  absl::Status st = Authorize(anonymous, "/arca.v1.Uploader/GetChunks", AuthorizationPolicy());
  EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(st.message().find("without certificate"), std::string::npos) << st;
  EXPECT_TRUE(IsKnownMethod("/arca.v1.Uploader/GetChunks"));
  EXPECT_TRUE(IsKnownMethod("/grpc.health.v1.Health/Check"));
  EXPECT_FALSE(IsKnownMethod("/random/x"));
}

// Every method of every arca service is in the role table: a new RPC
// without a row would be refused to everyone (or, worse, forgotten in a
// review of who may call what).
TEST(Authorization, EveryMethodOfEveryServiceHasARow) {
  // One message of each service's file: referencing it links the file's
  // descriptors in.
  const std::vector<const google::protobuf::FileDescriptor*> files = {
      v1::CollectRequest::descriptor()->file(), v1::BackupPlan::descriptor()->file(),
      v1::CompressRequest::descriptor()->file(), v1::HasChunksRequest::descriptor()->file(),
      v1::StartBackupRequest::descriptor()->file()};
  int methods = 0;
  for (const google::protobuf::FileDescriptor* file : files) {
    ASSERT_EQ(file->service_count(), 1) << file->name();
    const google::protobuf::ServiceDescriptor* service = file->service(0);
    for (int i = 0; i < service->method_count(); ++i) {
      const std::string method = "/" + service->full_name() + "/" + service->method(i)->name();
      if (method == "/arca.v1.Chunker/Chunk") continue;  // legacy, unimplemented: nobody
      EXPECT_TRUE(IsKnownMethod(method)) << method << " has no row in the role table";
      EXPECT_FALSE(AllowedRoles(method).empty()) << method;
      ++methods;
    }
  }
  EXPECT_GE(methods, 30);  // the five services had 30 methods with a row when this was written
}

}  // namespace
}  // namespace arca::services
