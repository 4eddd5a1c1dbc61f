#include "services/common/server.h"

#include <atomic>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "services/common/client_channel.h"
#include "libs/base/worker_pool.h"

namespace arca::services {
namespace {

absl::StatusOr<ServerFlags> Parse(const std::vector<std::string>& argv) {
  cli::FlagSpec spec;
  AddServerFlags(&spec);
  absl::StatusOr<cli::ParsedArgs> args = cli::ParseArgs(argv, spec);
  if (!args.ok()) return args.status();
  return ParseServerFlags(*args);
}

void ExpectInvalid(const std::vector<std::string>& argv, const std::string& fragment) {
  absl::StatusOr<ServerFlags> flags = Parse(argv);
  ASSERT_FALSE(flags.ok()) << "accepted: " << argv.size();
  EXPECT_EQ(flags.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(flags.status().message().find(fragment), std::string::npos) << flags.status();
}

TEST(ServerFlagsTest, ParsesListenAndInsecure) {
  absl::StatusOr<ServerFlags> flags = Parse({"--listen=127.0.0.1:0", "--insecure"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->host, "127.0.0.1");
  EXPECT_EQ(flags->port, 0);
  EXPECT_TRUE(flags->insecure);
  EXPECT_EQ(flags->drain_seconds, 10);

  flags = Parse({"--listen", "[::1]:7400", "--tls-cert", "c", "--tls-key", "k", "--tls-client-ca",
                 "ca", "--drain-seconds=3"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->host, "[::1]");
  EXPECT_EQ(flags->port, 7400);
  EXPECT_FALSE(flags->insecure);
  EXPECT_EQ(flags->tls_client_ca, "ca");
  EXPECT_EQ(flags->drain_seconds, 3);
}

TEST(ServerFlagsTest, RejectsBadFlags) {
  ExpectInvalid({"--insecure"}, "--listen=HOST:PORT is required");
  ExpectInvalid({"--listen=7400", "--insecure"}, "expected HOST:PORT");
  ExpectInvalid({"--listen=h:", "--insecure"}, "expected HOST:PORT");
  ExpectInvalid({"--listen=h:65536", "--insecure"}, "0..65535");
  ExpectInvalid({"--listen=h:-1", "--insecure"}, "0..65535");
  ExpectInvalid({"--listen=h:1"}, "refusing to serve plaintext");
  // Plaintext only on loopback; TLS is always mutual.
  ExpectInvalid({"--listen=h:1", "--insecure"}, "only allowed on a loopback address");
  ExpectInvalid({"--listen=0.0.0.0:1", "--insecure"}, "only allowed on a loopback address");
  ExpectInvalid({"--listen=[::]:1", "--insecure"}, "only allowed on a loopback address");
  ExpectInvalid({"--listen=h:1", "--tls-cert", "c", "--tls-key", "k"},
                "--tls-cert needs --tls-client-ca");
  ExpectInvalid({"--listen=127.0.0.1:1", "--insecure", "--trust-domain", "A B"}, "--trust-domain");
  ExpectInvalid({"--listen=127.0.0.1:1", "--insecure", "--tls-reload-seconds", "0"}, "1..86400");
  ExpectInvalid({"--listen=h:1", "--tls-cert", "c"}, "must be given together");
  ExpectInvalid({"--listen=h:1", "--tls-client-ca", "ca", "--insecure"}, "cannot be combined");
  ExpectInvalid({"--listen=h:1", "--tls-client-ca", "ca"}, "needs --tls-cert");
  ExpectInvalid({"--listen=localhost:1", "--insecure", "--drain-seconds", "x"}, "--drain-seconds");
  ExpectInvalid({"--listen=localhost:1", "--insecure", "--drain-seconds", "4000"}, "0..3600");
}

TEST(ServerFlagsTest, LoopbackHosts) {
  for (const char* h : {"127.0.0.1", "127.1.2.3", "[::1]", "::1", "localhost"}) {
    EXPECT_TRUE(IsLoopbackHost(h)) << h;
  }
  for (const char* h : {"0.0.0.0", "[::]", "10.0.0.1", "128.0.0.1", "example.org", "", "[::2]",
                        "localhost.example.org"}) {
    EXPECT_FALSE(IsLoopbackHost(h)) << h;
  }
  EXPECT_TRUE(CheckPlaintextPeer("uploader", "127.0.0.1:7", {.insecure = true}).ok());
  absl::Status remote = CheckPlaintextPeer("uploader", "10.1.1.1:7", {.insecure = true});
  EXPECT_EQ(remote.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(remote.message().find("10.1.1.1:7"), std::string::npos) << remote;
  EXPECT_TRUE(CheckPlaintextPeer("uploader", "10.1.1.1:7", {}).ok());
  EXPECT_EQ(MakeChannel("10.1.1.1:7", {.insecure = true}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ServerFlagsTest, MissingTlsFileIsNamed) {
  absl::StatusOr<ServerFlags> flags =
      Parse({"--listen=127.0.0.1:0", "--tls-cert", "/nonexistent/c.pem", "--tls-key", "k",
             "--tls-client-ca", "ca"});
  ASSERT_TRUE(flags.ok());
  auto creds = MakeServerCredentials(*flags);
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(creds.status().message().find("/nonexistent/c.pem"), std::string::npos);
}

TEST(ServerTest, StartsWithHealthCheckingOnAFreePort) {
  absl::StatusOr<ServerFlags> flags = Parse({"--listen=127.0.0.1:0", "--insecure"});
  ASSERT_TRUE(flags.ok());
  absl::StatusOr<StartedServer> server = StartServer(*flags, {});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_GT(server->port, 0);
  EXPECT_EQ(server->address, "127.0.0.1:" + std::to_string(server->port));
  auto channel = MakeChannel(server->address, {.insecure = true});
  ASSERT_TRUE(channel.ok());
  absl::StatusOr<bool> serving = CheckServing(*channel, "", absl::Seconds(10));
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_TRUE(*serving);
  server->server->Shutdown();
}

TEST(ServerTest, SecondServerOnTheSamePortFails) {
  absl::StatusOr<ServerFlags> flags = Parse({"--listen=127.0.0.1:0", "--insecure"});
  ASSERT_TRUE(flags.ok());
  absl::StatusOr<StartedServer> first = StartServer(*flags, {});
  ASSERT_TRUE(first.ok());
  absl::StatusOr<ServerFlags> same = Parse({"--listen=" + first->address, "--insecure"});
  ASSERT_TRUE(same.ok());
  absl::StatusOr<StartedServer> second = StartServer(*same, {});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find(first->address), std::string::npos);
  first->server->Shutdown();
}

TEST(ClientChannelTest, RejectsInconsistentTls) {
  EXPECT_EQ(MakeChannel("", {.insecure = true}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeChannel("h:1", {.cert = "c"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeChannel("h:1", {.ca = "ca", .insecure = true}).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto missing = MakeChannel("h:1", {.ca = "/nonexistent/ca.pem"});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("/nonexistent/ca.pem"), std::string::npos);
}

TEST(ClientChannelTest, UnreachableServerIsUnavailable) {
  // Port 1 on loopback: nothing listens there in the test sandbox.
  auto channel = MakeChannel("127.0.0.1:1", {.insecure = true});
  ASSERT_TRUE(channel.ok());
  absl::StatusOr<bool> serving = CheckServing(*channel, "", absl::Seconds(5));
  ASSERT_FALSE(serving.ok());
  EXPECT_TRUE(serving.status().code() == absl::StatusCode::kUnavailable ||
              serving.status().code() == absl::StatusCode::kDeadlineExceeded)
      << serving.status();
}

TEST(WorkerPoolTest, RunsEveryTaskBeforeDestruction) {
  std::atomic<int> done{0};
  {
    WorkerPool pool(3);
    EXPECT_EQ(pool.threads(), 3);
    for (int i = 0; i < 1000; ++i) {
      pool.Submit([&done, p = std::make_unique<int>(i)] { done += 1 + 0 * *p; });
    }
  }
  EXPECT_EQ(done.load(), 1000);
}

}  // namespace
}  // namespace arca::services
