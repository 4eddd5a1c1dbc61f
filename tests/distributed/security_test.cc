// Zero trust between the services (issue 10), on the real binaries with
// certificates made by openssl (make_certs.sh): every service refuses a
// client without certificate at the handshake, refuses every privileged RPC
// to the roles the table (services/common/authorization.h) does not name
// with PERMISSION_DENIED naming the caller and the method (and counts it),
// serves the roles it names; plaintext is refused off loopback; the
// orchestrator takes token and certificate clients; rotated certificates
// are served without a restart.
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "arca/v1/collector.grpc.pb.h"
#include "google/protobuf/wrappers.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "gtest/gtest.h"
#include "libs/metrics/prometheus_process.h"
#include "libs/rpc/status_convert.h"
#include "services/common/authorization.h"
#include "services/common/client_channel.h"
#include "tests/distributed/pipeline_cluster.h"
#include "tests/distributed/service_process.h"

namespace arca::distributed {
namespace {

using services::Role;

constexpr Role kAllRoles[] = {Role::kCollector, Role::kChunker,      Role::kCompressor,
                              Role::kUploader,  Role::kOrchestrator, Role::kClient};

// Every RPC of every arca service, by the binary that serves it.
const std::map<std::string, std::vector<std::string>>& MethodsByService() {
  static const auto* methods = new std::map<std::string, std::vector<std::string>>{
      {"collector",
       {"/arca.v1.Collector/Collect", "/arca.v1.Collector/WriteTree",
        "/arca.v1.Collector/EstimateCollect"}},
      {"chunker",
       {"/arca.v1.Chunker/RunBackup", "/arca.v1.Chunker/RunRestore", "/arca.v1.Chunker/Chunk"}},
      {"compressor", {"/arca.v1.Compressor/Compress", "/arca.v1.Compressor/Decompress"}},
      {"uploader",
       {"/arca.v1.Uploader/PutChunks", "/arca.v1.Uploader/HasChunks", "/arca.v1.Uploader/GetChunks",
        "/arca.v1.Uploader/CommitSnapshot", "/arca.v1.Uploader/ListSnapshots",
        "/arca.v1.Uploader/GetSnapshot", "/arca.v1.Uploader/GetConfig", "/arca.v1.Uploader/Verify",
        "/arca.v1.Uploader/GetSpace", "/arca.v1.Uploader/HoldWrite", "/arca.v1.Uploader/Forget",
        "/arca.v1.Uploader/Gc", "/arca.v1.Uploader/GetChunkIdKey"}},
      {"orchestrator",
       {"/arca.v1.Orchestrator/StartBackup", "/arca.v1.Orchestrator/StartRestore",
        "/arca.v1.Orchestrator/StartVerify", "/arca.v1.Orchestrator/StartForget",
        "/arca.v1.Orchestrator/StartGc", "/arca.v1.Orchestrator/GetJob",
        "/arca.v1.Orchestrator/WatchJob", "/arca.v1.Orchestrator/CancelJob",
        "/arca.v1.Orchestrator/ListJobs", "/arca.v1.Orchestrator/ListSnapshots",
        "/arca.v1.Orchestrator/GetSnapshot"}},
  };
  return *methods;
}

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_ = new std::string(NewTempDir("certs"));
    RunResult r = RunProgram({"/bin/sh", Runfile("tests/distributed/make_certs.sh"), *certs_});
    ASSERT_EQ(r.exit_code, 0) << r.Describe();
    repo_ = new std::string(NewTempDir("security-repo") + "/r");
    RunResult init = RunProgram({Runfile("tools/arca/arca"), "init", "--repo", *repo_});
    ASSERT_EQ(init.exit_code, 0) << init.Describe();
  }
  static void TearDownTestSuite() {
    delete certs_;
    delete repo_;
  }

  static std::string Cert(const std::string& name) { return *certs_ + "/" + name; }

  // mTLS flags of a service serving as `name`, from `dir` (default: the
  // suite's certificates).
  static std::vector<std::string> TlsFlags(const std::string& name, std::string dir = "") {
    if (dir.empty()) dir = *certs_;
    return {"--tls-cert",      dir + "/" + name + ".pem",
            "--tls-key",       dir + "/" + name + ".key",
            "--tls-client-ca", dir + "/ca.pem"};
  }

  // The TLS client flags of an identity from the suite's CA.
  static services::ClientTlsFlags As(const std::string& name) {
    return {.ca = Cert("ca.pem"), .cert = Cert(name + ".pem"), .key = Cert(name + ".key")};
  }

  // Starts the binary of `service` with mTLS as itself plus `extra`.
  static std::unique_ptr<ServiceProcess> StartService(const std::string& service,
                                                      std::vector<std::string> extra = {}) {
    std::vector<std::string> args = TlsFlags(service);
    if (service == "uploader") {
      args.push_back("--repo");
      args.push_back(*repo_);
    }
    args.insert(args.end(), extra.begin(), extra.end());
    auto p = ServiceProcess::Start(Runfile("services/" + service + "/" + service), args);
    EXPECT_TRUE(p.ok()) << service << ": " << p.status();
    return p.ok() ? *std::move(p) : nullptr;
  }

  // One call of `method` with an empty request message, as a unary call
  // (the authorizer decides on the call's headers, before any message).
  static grpc::Status Call(const std::string& address, const services::ClientTlsFlags& tls,
                           const std::string& method, const std::string& bearer = "") {
    auto channel = services::MakeChannel(address, tls);
    if (!channel.ok()) return rpc::ToGrpcStatus(channel.status());
    grpc::TemplatedGenericStub<google::protobuf::StringValue, google::protobuf::StringValue> stub(
        *channel);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    if (!bearer.empty()) context.AddMetadata("authorization", "Bearer " + bearer);
    google::protobuf::StringValue request, response;
    grpc::Status status;
    absl::Notification done;
    stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
      status = std::move(s);
      done.Notify();
    });
    done.WaitForNotification();
    return status;
  }

  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

  // Replaces `path` by `data` the way an operator (or cert-manager) rotates
  // a file: written under a temporary name, then renamed over it, so a
  // watcher never reads half a file.
  static void ReplaceFile(const std::string& path, const std::string& data) {
    std::ofstream(path + ".tmp", std::ios::binary) << data;
    ASSERT_EQ(std::rename((path + ".tmp").c_str(), path.c_str()), 0) << path;
  }

  // A fresh CA and its role certificates in a new directory.
  static std::string NewCertificates(const std::string& name) {
    const std::string dir = NewTempDir(name);
    RunResult made = RunProgram({"/bin/sh", Runfile("tests/distributed/make_certs.sh"), dir});
    EXPECT_EQ(made.exit_code, 0) << made.Describe();
    return dir;
  }

  static bool Refused(const grpc::Status& s) {
    return s.error_code() == grpc::StatusCode::PERMISSION_DENIED &&
           absl::StrContains(s.error_message(), "may not call");
  }

  static std::string* certs_;
  static std::string* repo_;
};

std::string* SecurityTest::certs_ = nullptr;
std::string* SecurityTest::repo_ = nullptr;

// The whole table on the real binaries: for each service, each method, each
// role, allowed exactly when the table says so.
TEST_F(SecurityTest, EveryServiceEnforcesTheRoleTableForEveryMethod) {
  auto uploader = StartService("uploader", {"--metrics-listen=127.0.0.1:0"});
  ASSERT_NE(uploader, nullptr);
  std::map<std::string, std::unique_ptr<ServiceProcess>> services;
  for (const std::string name : {"collector", "chunker", "compressor"}) {
    services[name] = StartService(name);
    ASSERT_NE(services[name], nullptr);
  }
  services["orchestrator"] = StartService("orchestrator", {"--uploader=" + uploader->address()});
  ASSERT_NE(services["orchestrator"], nullptr);
  std::map<std::string, const ServiceProcess*> by_name;
  for (const auto& [name, p] : services) by_name[name] = p.get();
  by_name["uploader"] = uploader.get();

  int refused_on_uploader = 0;
  for (const auto& [service, methods] : MethodsByService()) {
    const std::string& address = by_name.at(service)->address();
    for (const std::string& method : methods) {
      const std::vector<Role> allowed = services::AllowedRoles(method);
      for (Role role : kAllRoles) {
        const std::string who(services::RoleName(role));
        SCOPED_TRACE(absl::StrCat(method, " as ", who));
        const bool may = std::find(allowed.begin(), allowed.end(), role) != allowed.end();
        grpc::Status s = Call(address, As(who), method);
        if (may) {
          EXPECT_FALSE(Refused(s)) << s.error_message();
          EXPECT_NE(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
        } else {
          ASSERT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
          EXPECT_TRUE(Refused(s)) << s.error_message();
          EXPECT_TRUE(absl::StrContains(s.error_message(), "spiffe://arca/arca/" + who))
              << s.error_message();
          EXPECT_TRUE(absl::StrContains(s.error_message(), method)) << s.error_message();
          if (service == "uploader") ++refused_on_uploader;
        }
      }
    }
    // Health stays open to every identity.
    for (Role role : kAllRoles) {
      absl::StatusOr<bool> serving = services::CheckServing(
          *services::MakeChannel(address, As(std::string(services::RoleName(role)))), "",
          absl::Seconds(20));
      EXPECT_TRUE(serving.ok() && *serving) << service << ": " << serving.status();
    }
    // Reflection is off unless asked for.
    grpc::Status reflection = Call(
        address, As("client"), "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo");
    EXPECT_EQ(reflection.error_code(), grpc::StatusCode::PERMISSION_DENIED) << service;
    if (service == "uploader") ++refused_on_uploader;
  }
  // Refused calls are counted like any other.
  ASSERT_FALSE(uploader->metrics_address().empty());
  int port = 0;
  ASSERT_TRUE(absl::SimpleAtoi(
      uploader->metrics_address().substr(uploader->metrics_address().rfind(':') + 1), &port));
  absl::StatusOr<std::pair<int, std::string>> scrape = metrics::HttpGet(port, "/metrics");
  ASSERT_TRUE(scrape.ok()) << scrape.status();
  const std::string& text = scrape->second;
  double denied = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, "arca_uploader_rpcs_total{") &&
        absl::StrContains(line, "code=\"PERMISSION_DENIED\"")) {
      double v = 0;
      ASSERT_TRUE(absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &v)) << line;
      denied += v;
    }
  }
  EXPECT_EQ(denied, refused_on_uploader) << text;
  EXPECT_TRUE(absl::StrContains(
      text,
      "arca_uploader_rpcs_total{code=\"PERMISSION_DENIED\",method=\"Uploader/CommitSnapshot\"}"))
      << text;
}

// Polls Health/Check of `service` until it says `serving` (true: SERVING)
// or `limit` passes; the last answer when it never does.
absl::StatusOr<bool> AwaitServing(const std::shared_ptr<grpc::Channel>& channel,
                                  const std::string& service, bool serving, absl::Duration limit) {
  const absl::Time deadline = absl::Now() + limit;
  while (true) {
    absl::StatusOr<bool> now = services::CheckServing(channel, service, absl::Seconds(5));
    if ((now.ok() && *now == serving) || absl::Now() > deadline) return now;
    absl::SleepFor(absl::Milliseconds(100));
  }
}

const std::map<std::string, std::string>& FullServiceNames() {
  static const auto* names =
      new std::map<std::string, std::string>{{"collector", "arca.v1.Collector"},
                                             {"chunker", "arca.v1.Chunker"},
                                             {"compressor", "arca.v1.Compressor"},
                                             {"uploader", "arca.v1.Uploader"},
                                             {"orchestrator", "arca.v1.Orchestrator"}};
  return *names;
}

// Probes (kubelet's grpc.service, grpc-health-probe) ask for a service by
// its full name, and cannot do mutual TLS: every service answers its own
// name, and --health-listen serves the same statuses in plaintext with
// nothing else reachable there.
TEST_F(SecurityTest, HealthAnswersEachServiceNameAndProbesGetAHealthOnlyPlaintextPort) {
  const std::string probe = "--health-listen=127.0.0.1:0";
  auto uploader = StartService("uploader", {probe});
  ASSERT_NE(uploader, nullptr);
  std::map<std::string, std::unique_ptr<ServiceProcess>> services;
  for (const std::string name : {"collector", "chunker"}) {
    services[name] = StartService(name, {probe});
    ASSERT_NE(services[name], nullptr);
  }
  // With reflection on: still not on the probe port.
  services["compressor"] = StartService("compressor", {probe, "--reflection"});
  ASSERT_NE(services["compressor"], nullptr);
  services["orchestrator"] =
      StartService("orchestrator", {probe, "--uploader=" + uploader->address()});
  ASSERT_NE(services["orchestrator"], nullptr);
  services["uploader"] = std::move(uploader);
  for (const auto& [name, p] : services) {
    SCOPED_TRACE(name);
    const std::string& own = FullServiceNames().at(name);
    const std::string other =
        name == "uploader" ? FullServiceNames().at("chunker") : FullServiceNames().at("uploader");
    auto tls = services::MakeChannel(p->address(), As("client"));
    ASSERT_TRUE(tls.ok()) << tls.status();
    ASSERT_FALSE(p->health_address().empty());
    auto plain = services::MakeChannel(p->health_address(), {.insecure = true});
    ASSERT_TRUE(plain.ok()) << plain.status();
    for (const auto& channel : {*tls, *plain}) {
      for (const std::string& service : {std::string(), own}) {
        absl::StatusOr<bool> serving = services::CheckServing(channel, service, absl::Seconds(20));
        EXPECT_TRUE(serving.ok() && *serving) << "'" << service << "': " << serving.status();
      }
      for (const std::string& service : {std::string("arca.v1.Nope"), other}) {
        absl::StatusOr<bool> unknown = services::CheckServing(channel, service, absl::Seconds(20));
        EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound)
            << service << ": " << unknown.status();
      }
    }
    // Only health on the probe port: the service's own RPCs and reflection
    // are not there, whatever the caller.
    for (const std::string& method :
         {MethodsByService().at(name)[0],
          std::string("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")}) {
      grpc::Status there = Call(p->health_address(), {.insecure = true}, method);
      EXPECT_EQ(there.error_code(), grpc::StatusCode::UNIMPLEMENTED)
          << method << ": " << there.error_message();
    }
    // The main port still refuses plaintext at the handshake.
    grpc::Status main_plain =
        Call(p->address(), {.insecure = true}, "/grpc.health.v1.Health/Check");
    EXPECT_EQ(main_plain.error_code(), grpc::StatusCode::UNAVAILABLE) << main_plain.error_message();
  }
  // Reflection is served on the main port of the one that asked for it.
  grpc::Status reflection = Call(services["compressor"]->address(), As("client"),
                                 "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo");
  EXPECT_NE(reflection.error_code(), grpc::StatusCode::UNIMPLEMENTED) << reflection.error_message();
  // A probe port that is the main port is refused at start.
  RunResult same = RunProgram({Runfile("services/compressor/compressor"), "--listen=127.0.0.1:7399",
                               "--health-listen=127.0.0.1:7399", "--insecure"},
                              absl::Seconds(30));
  EXPECT_EQ(same.exit_code, 2) << same.Describe();
  EXPECT_TRUE(absl::StrContains(same.err, "--health-listen")) << same.Describe();
}

// The orchestrator is ready only while every configured phase has a
// replica that answers: NOT_SERVING (on both ports, to Check and Watch)
// once its only uploader is gone, SERVING again when one is back.
TEST_F(SecurityTest, OrchestratorIsNotServingWhileAPhaseHasNoReachableReplica) {
  auto uploader = StartService("uploader");
  ASSERT_NE(uploader, nullptr);
  const std::string uploader_address = uploader->address();
  auto orch =
      StartService("orchestrator", {"--uploader=" + uploader_address, "--health-check-seconds=1",
                                    "--health-listen=127.0.0.1:0", "--metrics-listen=127.0.0.1:0"});
  ASSERT_NE(orch, nullptr);
  auto tls = services::MakeChannel(orch->address(), As("client"));
  ASSERT_TRUE(tls.ok()) << tls.status();
  auto plain = services::MakeChannel(orch->health_address(), {.insecure = true});
  ASSERT_TRUE(plain.ok()) << plain.status();
  const std::string own = "arca.v1.Orchestrator";
  absl::StatusOr<bool> up = AwaitServing(*tls, own, true, absl::Seconds(30));
  ASSERT_TRUE(up.ok() && *up) << up.status();

  auto gauge = [&]() -> std::string {
    int port = 0;
    const std::string& m = orch->metrics_address();
    if (!absl::SimpleAtoi(m.substr(m.rfind(':') + 1), &port)) return "no metrics address";
    absl::StatusOr<std::pair<int, std::string>> scrape = metrics::HttpGet(port, "/metrics");
    if (!scrape.ok()) return std::string(scrape.status().message());
    for (absl::string_view line : absl::StrSplit(scrape->second, '\n')) {
      if (absl::StartsWith(line, "arca_orchestrator_phase_replicas_reachable{")) {
        return std::string(line);
      }
    }
    return "no gauge";
  };
  // The gauge is 0 until the first round of checks has ended (a moment
  // after start): wait for it.
  const std::string reachable = "arca_orchestrator_phase_replicas_reachable{phase=\"uploader\"} 1";
  for (absl::Time end = absl::Now() + absl::Seconds(30);
       gauge() != reachable && absl::Now() < end;) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(gauge(), reachable);

  // A watcher on the probe port sees every change.
  grpc::health::v1::Health::Stub stub(*plain);
  grpc::ClientContext watch_context;
  watch_context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
  grpc::health::v1::HealthCheckRequest watch_request;
  watch_request.set_service(own);
  auto watch = stub.Watch(&watch_context, watch_request);
  grpc::health::v1::HealthCheckResponse seen;
  ASSERT_TRUE(watch->Read(&seen));
  EXPECT_EQ(seen.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  EXPECT_EQ(uploader->Stop(), 0);
  uploader.reset();
  for (const auto& channel : {*tls, *plain}) {
    for (const std::string& service : {std::string(), own}) {
      absl::StatusOr<bool> down = AwaitServing(channel, service, false, absl::Seconds(30));
      EXPECT_TRUE(down.ok() && !*down) << "'" << service << "': " << down.status();
    }
  }
  ASSERT_TRUE(watch->Read(&seen));
  EXPECT_EQ(seen.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(gauge(), "arca_orchestrator_phase_replicas_reachable{phase=\"uploader\"} 0");
  EXPECT_TRUE(absl::StrContains(
      orch->Stderr(), "NOT_SERVING: no reachable replica of uploader: " + uploader_address))
      << orch->Stderr();
  // The job API itself keeps answering (the state is for probes).
  EXPECT_TRUE(Call(orch->address(), As("client"), "/arca.v1.Orchestrator/ListJobs").ok());

  // An uploader back on the same address: SERVING again.
  uploader = StartService("uploader", {"--listen=" + uploader_address});
  ASSERT_NE(uploader, nullptr);
  for (const auto& channel : {*tls, *plain}) {
    for (const std::string& service : {std::string(), own}) {
      absl::StatusOr<bool> back = AwaitServing(channel, service, true, absl::Seconds(30));
      EXPECT_TRUE(back.ok() && *back) << "'" << service << "': " << back.status();
    }
  }
  ASSERT_TRUE(watch->Read(&seen));
  EXPECT_EQ(seen.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_TRUE(
      absl::StrContains(orch->Stderr(), "SERVING: every configured phase has a reachable replica"))
      << orch->Stderr();
  // On SIGTERM the watcher gets NOT_SERVING and its stream ends.
  orch->Signal(SIGTERM);
  ASSERT_TRUE(watch->Read(&seen));
  EXPECT_EQ(seen.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(watch->Read(&seen));
  grpc::Status ended = watch->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAVAILABLE) << ended.error_message();
  EXPECT_EQ(orch->WaitExit(absl::Seconds(30)), 0);
}

TEST_F(SecurityTest, NoCertificateForeignCaOrForeignTrustDomainGetsNothing) {
  auto uploader = StartService("uploader");
  ASSERT_NE(uploader, nullptr);
  std::vector<std::unique_ptr<ServiceProcess>> all;
  for (const std::string name : {"collector", "chunker", "compressor"}) {
    all.push_back(StartService(name));
    ASSERT_NE(all.back(), nullptr);
  }
  all.push_back(StartService("orchestrator", {"--uploader=" + uploader->address()}));
  ASSERT_NE(all.back(), nullptr);
  all.push_back(std::move(uploader));
  for (const auto& p : all) {
    SCOPED_TRACE(p->address());
    // Refused at the handshake: the call never reaches the server.
    grpc::Status plain = Call(p->address(), {.insecure = true}, "/grpc.health.v1.Health/Check");
    EXPECT_EQ(plain.error_code(), grpc::StatusCode::UNAVAILABLE) << plain.error_message();
    grpc::Status no_cert =
        Call(p->address(), {.ca = Cert("ca.pem")}, "/grpc.health.v1.Health/Check");
    EXPECT_EQ(no_cert.error_code(), grpc::StatusCode::UNAVAILABLE) << no_cert.error_message();
    grpc::Status other_ca = Call(
        p->address(),
        {.ca = Cert("ca.pem"), .cert = Cert("other-client.pem"), .key = Cert("other-client.key")},
        "/grpc.health.v1.Health/Check");
    EXPECT_EQ(other_ca.error_code(), grpc::StatusCode::UNAVAILABLE) << other_ca.error_message();
  }
  // A chunker of another trust domain (same CA) passes the handshake but is
  // nobody here; a certificate without SPIFFE ID is nobody either.
  const std::string& uploader_address = all.back()->address();
  grpc::Status foreign =
      Call(uploader_address, As("foreign-chunker"), "/arca.v1.Uploader/CommitSnapshot");
  EXPECT_EQ(foreign.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(foreign.error_message(), "spiffe://evil/arca/chunker"))
      << foreign.error_message();
  // Clients that know whom they call check the server's role too: a
  // compressor cannot stand in for an uploader.
  services::ClientTlsFlags expect_uploader = As("chunker");
  expect_uploader.server_role = Role::kUploader;
  EXPECT_TRUE(Call(uploader_address, expect_uploader, "/arca.v1.Uploader/ListSnapshots").ok());
  grpc::Status impostor =
      Call(all[2]->address(), expect_uploader, "/arca.v1.Uploader/ListSnapshots");
  EXPECT_EQ(impostor.error_code(), grpc::StatusCode::UNAVAILABLE) << impostor.error_message();
  grpc::Status no_id = Call(uploader_address, As("server"), "/arca.v1.Uploader/GetChunks");
  EXPECT_EQ(no_id.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(no_id.error_message(), "no SPIFFE ID")) << no_id.error_message();
}

TEST_F(SecurityTest, OrchestratorTakesTokenAndCertificateClients) {
  const std::string dir = NewTempDir("token");
  std::ofstream(dir + "/token") << "s3cret\n";
  auto uploader = StartService("uploader");
  ASSERT_NE(uploader, nullptr);
  auto orch = StartService(
      "orchestrator", {"--uploader=" + uploader->address(), "--auth-token-file", dir + "/token"});
  ASSERT_NE(orch, nullptr);
  const std::string list = "/arca.v1.Orchestrator/ListJobs";
  const services::ClientTlsFlags token_client = {.ca = Cert("ca.pem")};
  EXPECT_TRUE(Call(orch->address(), token_client, list, "s3cret").ok());
  grpc::Status wrong = Call(orch->address(), token_client, list, "guess");
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED) << wrong.error_message();
  grpc::Status none = Call(orch->address(), token_client, list);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED) << none.error_message();
  EXPECT_TRUE(Call(orch->address(), As("client"), list).ok());
  grpc::Status chunker = Call(orch->address(), As("chunker"), list);
  EXPECT_TRUE(Refused(chunker)) << chunker.error_message();
  // The CLI both ways; the orchestrator reaches the uploader as itself.
  const std::string arca = Runfile("tools/arca/arca");
  const std::string at = "--orchestrator=" + orch->address();
  RunResult by_token =
      RunProgram({arca, at, "--tls-ca", Cert("ca.pem"), "--token-file", dir + "/token", "verify"});
  EXPECT_EQ(by_token.exit_code, 0) << by_token.Describe() << orch->Stderr();
  RunResult by_cert = RunProgram({arca, at, "--tls-ca", Cert("ca.pem"), "--tls-cert",
                                  Cert("client.pem"), "--tls-key", Cert("client.key"), "jobs"});
  EXPECT_EQ(by_cert.exit_code, 0) << by_cert.Describe();
  EXPECT_TRUE(absl::StrContains(by_cert.out, "verify   succeeded")) << by_cert.out;
  // The token client checks that it reached the orchestrator: an uploader
  // (same CA, same names) is not one.
  services::ClientTlsFlags to_orchestrator = token_client;
  to_orchestrator.server_role = Role::kOrchestrator;
  EXPECT_TRUE(Call(orch->address(), to_orchestrator, list, "s3cret").ok());
  grpc::Status wrong_server = Call(uploader->address(), to_orchestrator, list, "s3cret");
  EXPECT_EQ(wrong_server.error_code(), grpc::StatusCode::UNAVAILABLE)
      << wrong_server.error_message();
  RunResult cli_wrong_server =
      RunProgram({arca, "--orchestrator=" + uploader->address(), "--tls-ca", Cert("ca.pem"),
                  "--token-file", dir + "/token", "jobs"});
  EXPECT_NE(cli_wrong_server.exit_code, 0) << cli_wrong_server.Describe();
  // A service without a token does not let certificate-less clients in.
  auto strict = StartService("orchestrator", {"--uploader=" + uploader->address()});
  ASSERT_NE(strict, nullptr);
  grpc::Status strict_token = Call(strict->address(), token_client, list, "s3cret");
  EXPECT_EQ(strict_token.error_code(), grpc::StatusCode::UNAVAILABLE)
      << strict_token.error_message();
}

TEST_F(SecurityTest, PlaintextOnlyOnLoopbackAndIdentityChecksAtStart) {
  for (const std::string name :
       {"collector", "chunker", "compressor", "uploader", "orchestrator"}) {
    SCOPED_TRACE(name);
    std::vector<std::string> argv = {Runfile("services/" + name + "/" + name), "--listen=0.0.0.0:0",
                                     "--insecure"};
    if (name == "uploader") argv.insert(argv.end(), {"--repo", *repo_});
    if (name == "orchestrator") argv.push_back("--uploader=127.0.0.1:1");
    RunResult r = RunProgram(argv, absl::Seconds(60));
    EXPECT_EQ(r.exit_code, 2) << r.Describe();
    EXPECT_TRUE(absl::StrContains(r.err, "only allowed on a loopback address")) << r.err;
    EXPECT_TRUE(absl::StrContains(r.err, "--tls-client-ca")) << r.err;
    // TLS without client certificates is not a mode any more.
    std::vector<std::string> one_way = {Runfile("services/" + name + "/" + name),
                                        "--listen=127.0.0.1:0",
                                        "--tls-cert",
                                        Cert(name + ".pem"),
                                        "--tls-key",
                                        Cert(name + ".key")};
    if (name == "uploader") one_way.insert(one_way.end(), {"--repo", *repo_});
    if (name == "orchestrator") one_way.push_back("--uploader=127.0.0.1:1");
    r = RunProgram(one_way, absl::Seconds(60));
    EXPECT_EQ(r.exit_code, 2) << r.Describe();
    EXPECT_TRUE(absl::StrContains(r.err, "--tls-client-ca")) << r.err;
  }
  // Plaintext to a phase that is not on loopback: refused at start.
  RunResult remote_peer =
      RunProgram({Runfile("services/orchestrator/orchestrator"), "--listen=127.0.0.1:0",
                  "--insecure", "--uploader=192.0.2.7:7402"},
                 absl::Seconds(60));
  EXPECT_EQ(remote_peer.exit_code, 2) << remote_peer.Describe();
  EXPECT_TRUE(absl::StrContains(remote_peer.err, "192.0.2.7:7402")) << remote_peer.err;
  // A certificate of another role, or without SPIFFE ID, is not this
  // process's identity.
  const std::string compressor = Runfile("services/compressor/compressor");
  for (const std::string cert : {"chunker", "server"}) {
    RunResult r = RunProgram({compressor, "--listen=127.0.0.1:0", "--tls-cert", Cert(cert + ".pem"),
                              "--tls-key", Cert(cert + ".key"), "--tls-client-ca", Cert("ca.pem")},
                             absl::Seconds(60));
    EXPECT_EQ(r.exit_code, 2) << r.Describe();
    EXPECT_TRUE(absl::StrContains(r.err, "spiffe://arca/arca/compressor")) << r.err;
  }
  // The trust domain is a flag.
  RunResult td =
      RunProgram({compressor, "--listen=127.0.0.1:0", "--insecure", "--trust-domain", "Not/Valid"},
                 absl::Seconds(60));
  EXPECT_EQ(td.exit_code, 2) << td.Describe();
  EXPECT_TRUE(absl::StrContains(td.err, "--trust-domain")) << td.err;
}

// Rotation without restart: the uploader's key pair and trust bundle are
// replaced by ones of a new CA while it runs; after --tls-reload-seconds it
// serves the new certificate and trusts the new clients, and once the old CA
// leaves the bundle, old clients are refused.
TEST_F(SecurityTest, RotatedCertificatesAreServedWithoutRestart) {
  const std::string live = NewTempDir("live");
  const std::string fresh = NewCertificates("fresh");
  for (const std::string f : {"uploader.pem", "uploader.key", "ca.pem"}) {
    ReplaceFile(live + "/" + f, ReadFile(Cert(f)));
  }
  auto p = ServiceProcess::Start(
      Runfile("services/uploader/uploader"),
      {"--repo", *repo_, "--tls-reload-seconds", "1", "--tls-cert", live + "/uploader.pem",
       "--tls-key", live + "/uploader.key", "--tls-client-ca", live + "/ca.pem"});
  ASSERT_TRUE(p.ok()) << p.status();
  const std::string address = (*p)->address();
  const std::string method = "/arca.v1.Uploader/ListSnapshots";
  const services::ClientTlsFlags old_client = As("chunker");
  const services::ClientTlsFlags new_client = {
      .ca = fresh + "/ca.pem", .cert = fresh + "/chunker.pem", .key = fresh + "/chunker.key"};
  EXPECT_TRUE(Call(address, old_client, method).ok());
  EXPECT_EQ(Call(address, new_client, method).error_code(), grpc::StatusCode::UNAVAILABLE);

  // Step 1: the new identity, and a bundle of both CAs.
  ReplaceFile(live + "/uploader.key", ReadFile(fresh + "/uploader.key"));
  ReplaceFile(live + "/uploader.pem", ReadFile(fresh + "/uploader.pem"));
  ReplaceFile(live + "/ca.pem", ReadFile(Cert("ca.pem")) + ReadFile(fresh + "/ca.pem"));
  // Each call opens a new channel, so it sees what the server holds now.
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  grpc::Status s;
  while (!(s = Call(address, new_client, method)).ok() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_TRUE(s.ok()) << "the new certificate was not picked up: " << s.error_message();
  // Old clients still trusted by the bundle, but they must trust the new CA
  // to accept the server's new certificate.
  services::ClientTlsFlags old_identity_new_trust = old_client;
  old_identity_new_trust.ca = fresh + "/ca.pem";
  EXPECT_TRUE(Call(address, old_identity_new_trust, method).ok());

  // Step 2: the old CA leaves the bundle.
  ReplaceFile(live + "/ca.pem", ReadFile(fresh + "/ca.pem"));
  deadline = absl::Now() + absl::Seconds(30);
  while (Call(address, old_identity_new_trust, method).ok() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_EQ(Call(address, old_identity_new_trust, method).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(Call(address, new_client, method).ok());
  EXPECT_EQ((*p)->Stop(), 0) << (*p)->Stderr();
}

// The whole pipeline over mutual TLS (every service serving and calling as
// its own identity, the test as the orchestrator), then every certificate of
// the running cluster rotated to a new CA — bundle of both, new leaves, old
// CA dropped — and a second backup and a restore through the same
// processes.
TEST_F(SecurityTest, BackupsRunOverMutualTlsAndSurviveRotatingEveryCertificate) {
  const std::string live = NewTempDir("cluster-certs");
  const std::string fresh = NewCertificates("cluster-fresh");
  const std::vector<std::string> roles = {"collector", "chunker", "compressor", "uploader",
                                          "orchestrator"};
  ReplaceFile(live + "/ca.pem", ReadFile(Cert("ca.pem")));
  for (const std::string& r : roles) {
    ReplaceFile(live + "/" + r + ".pem", ReadFile(Cert(r + ".pem")));
    ReplaceFile(live + "/" + r + ".key", ReadFile(Cert(r + ".key")));
  }
  const std::string source = NewTempDir("mtls-source");
  std::ofstream(source + "/a.txt") << std::string(300000, 'a') << "end\n";
  std::ofstream(source + "/b.txt") << "second file\n";
  auto cluster =
      PipelineCluster::Start(NewTempDir("mtls-repo") + "/r", {.compressors = 1, .tls_dir = live});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;
  JobOutcome first = c.RunBackup(c.BackupPlan(source));
  ASSERT_TRUE(first.status.ok()) << first.Describe() << c.chunker().Stderr();

  // Rotation: a bundle of both CAs, then every leaf from the new CA, then
  // the new CA alone. Between steps, more than --tls-reload-seconds (1 s).
  ReplaceFile(live + "/ca.pem", ReadFile(Cert("ca.pem")) + ReadFile(fresh + "/ca.pem"));
  absl::SleepFor(absl::Milliseconds(2500));
  for (const std::string& r : roles) {
    ReplaceFile(live + "/" + r + ".key", ReadFile(fresh + "/" + r + ".key"));
    ReplaceFile(live + "/" + r + ".pem", ReadFile(fresh + "/" + r + ".pem"));
  }
  absl::SleepFor(absl::Milliseconds(2500));
  ReplaceFile(live + "/ca.pem", ReadFile(fresh + "/ca.pem"));
  absl::SleepFor(absl::Milliseconds(2500));
  // The old identity is no longer accepted anywhere...
  grpc::Status old = Call(c.uploader(0).address(), As("chunker"), "/arca.v1.Uploader/HasChunks");
  EXPECT_EQ(old.error_code(), grpc::StatusCode::UNAVAILABLE) << old.error_message();
  // ...and the same processes work with the new ones.
  std::ofstream(source + "/c.txt") << "after rotation\n";
  JobOutcome second = c.RunBackup(c.BackupPlan(source));
  ASSERT_TRUE(second.status.ok()) << second.Describe() << c.chunker().Stderr();
  const std::string target = NewTempDir("mtls-restore") + "/t";
  JobOutcome restored = c.RunRestore(c.RestorePlan("latest", target));
  ASSERT_TRUE(restored.status.ok()) << restored.Describe();
  EXPECT_EQ(ReadFile(target + "/c.txt"), "after rotation\n");
  EXPECT_EQ(ReadFile(target + "/a.txt"), ReadFile(source + "/a.txt"));
  EXPECT_EQ(VisibleSnapshots(c.repo()), 2);
  EXPECT_TRUE(c.CheckAllServing().ok());

  // Even the chunker's own identity reaches only what the collector's node
  // allows: nothing outside its roots, no command it does not list.
  services::ClientTlsFlags as_chunker = {.ca = live + "/ca.pem",
                                         .cert = live + "/chunker.pem",
                                         .key = live + "/chunker.key",
                                         .reload_seconds = 1};
  auto collector =
      v1::Collector::NewStub(*services::MakeChannel(c.collector().address(), as_chunker));
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    v1::CollectRequest request;
    request.set_source("/etc");
    auto reader = collector->Collect(&ctx, request);
    v1::CollectEvent event;
    EXPECT_FALSE(reader->Read(&event)) << "/etc was sent: " << event.ShortDebugString();
    grpc::Status st = reader->Finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
    EXPECT_TRUE(absl::StrContains(st.error_message(), "--source-root")) << st.error_message();
  }
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    v1::CollectRequest request;
    request.set_source(source);
    v1::Command* cmd = request.add_commands();
    cmd->set_name("shell");
    cmd->set_command_line("id > " + source + "/pwned");
    auto reader = collector->Collect(&ctx, request);
    v1::CollectEvent event;
    while (reader->Read(&event)) {
    }
    grpc::Status st = reader->Finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
    EXPECT_FALSE(std::ifstream(source + "/pwned").good()) << "the command ran";
  }
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    v1::WriteTreeResponse response;
    auto writer = collector->WriteTree(&ctx, &response);
    v1::WriteTreeRequest first;
    first.mutable_target()->set_target("/root/.ssh");
    writer->Write(first);
    writer->WritesDone();
    grpc::Status st = writer->Finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
    EXPECT_TRUE(absl::StrContains(st.error_message(), "--restore-root")) << st.error_message();
  }
}

}  // namespace
}  // namespace arca::distributed
