#include "libs/testing/rgw_server.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "libs/base/subprocess.h"

namespace arca::testing {
namespace {

struct CurlResult {
  int exit_code = -1;
  std::string http_code;  // "000" when no connection
  std::string body;
};

// One signed S3 request through the curl CLI.
CurlResult Curl(const RgwServer& server, std::vector<std::string> extra, const std::string& path) {
  SubprocessOptions options;
  options.argv = {"curl",        "-sS",
                  "--max-time",  "20",
                  "-o",          "-",
                  "-w",          "\n%{http_code}",
                  "--aws-sigv4", "aws:amz:" + server.region() + ":s3",
                  "--user",      server.access_key() + ":" + server.secret_key(),
                  "-H",          "x-amz-content-sha256: UNSIGNED-PAYLOAD"};
  options.argv.insert(options.argv.end(), extra.begin(), extra.end());
  options.argv.push_back(server.endpoint() + path);
  options.stdout_output = SubprocessOutput::Capture();
  options.stderr_output = SubprocessOutput::Null();
  auto result = RunSubprocess(options, absl::Seconds(30));
  CurlResult r;
  if (!result.ok()) return r;
  r.exit_code = result->exit_code;
  const std::string& out = result->stdout_data;
  size_t nl = out.rfind('\n');
  r.http_code = out.substr(nl + 1);
  r.body = out.substr(0, nl);
  return r;
}

std::string TestDir() {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/rgw_server_test");
}

TEST(RgwServerTest, PutGetConditionalPutGatewayRestartAndCleanup) {
  std::string dir = TestDir();
  std::string file = dir + "-payload";
  {
    std::ofstream out(file);
    out << "hello rgw";
  }
  std::vector<pid_t> pids;
  {
    absl::Time t0 = absl::Now();
    auto server_or = RgwServer::Start(dir);
    ASSERT_TRUE(server_or.ok()) << server_or.status();
    RgwServer& server = **server_or;
    std::cerr << "RgwServer up in " << absl::FormatDuration(absl::Now() - t0) << " at "
              << server.endpoint() << "\n";
    pids = server.daemon_pids();
    ASSERT_EQ(pids.size(), 3u);
    long rss_kb = 0;
    for (pid_t pid : pids) {
      std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
      std::string line;
      while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) rss_kb += std::atol(line.c_str() + 6);
      }
    }
    std::cerr << "RSS of mon+osd+rgw: " << rss_kb / 1024 << " MiB\n";
    EXPECT_EQ(server.endpoint(), absl::StrCat("http://127.0.0.1:", server.port()));
    EXPECT_EQ(server.region(), "us-east-1");
    // TLS only when asked for: no second listener, no certificates made.
    EXPECT_EQ(server.https_endpoint(), "");
    EXPECT_EQ(server.https_port(), 0);
    EXPECT_EQ(server.ca_file(), "");
    EXPECT_FALSE(std::filesystem::exists(dir + "/tls"));

    ASSERT_TRUE(server.CreateBucket("arca-test").ok());
    EXPECT_TRUE(server.CreateBucket("arca-test").ok());  // ours already
    absl::Status bad_name = server.CreateBucket("no");   // too short for S3
    EXPECT_EQ(bad_name.code(), absl::StatusCode::kInvalidArgument) << bad_name;
    EXPECT_NE(bad_name.message().find("InvalidBucketName"), std::string::npos) << bad_name;

    CurlResult put = Curl(server, {"-T", file}, "/arca-test/obj");
    ASSERT_EQ(put.http_code, "200") << put.body;
    CurlResult get = Curl(server, {}, "/arca-test/obj");
    ASSERT_EQ(get.http_code, "200");
    EXPECT_EQ(get.body, "hello rgw");

    // A wrong secret is refused: SigV4 is really checked.
    SubprocessOptions bad;
    bad.argv = {"curl",
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--aws-sigv4",
                "aws:amz:us-east-1:s3",
                "--user",
                server.access_key() + ":wrong",
                "-H",
                "x-amz-content-sha256: UNSIGNED-PAYLOAD",
                server.endpoint() + "/arca-test/obj"};
    bad.stdout_output = SubprocessOutput::Capture();
    auto bad_result = RunSubprocess(bad, absl::Seconds(30));
    ASSERT_TRUE(bad_result.ok());
    EXPECT_EQ(bad_result->stdout_data, "403");

    // 20 concurrent create-only PUTs of one key: exactly one wins.
    std::vector<CurlResult> results(20);
    std::vector<std::thread> threads;
    for (int i = 0; i < 20; ++i) {
      threads.emplace_back([&, i] {
        results[i] = Curl(server, {"-H", "If-None-Match: *", "-T", file}, "/arca-test/once");
      });
    }
    for (auto& t : threads) t.join();
    int ok = 0, precondition_failed = 0;
    for (const auto& r : results) {
      if (r.http_code == "200") ++ok;
      if (r.http_code == "412") ++precondition_failed;
    }
    EXPECT_EQ(ok, 1);
    EXPECT_EQ(precondition_failed, 19);

    // Gateway down: connection refused (curl exit 7, HTTP 000).
    ASSERT_TRUE(server.StopGateway().ok());
    EXPECT_FALSE(server.gateway_running());
    CurlResult down = Curl(server, {}, "/arca-test/obj");
    EXPECT_EQ(down.exit_code, 7);
    EXPECT_EQ(down.http_code, "000");
    EXPECT_EQ(server.CreateBucket("arca-down").code(), absl::StatusCode::kUnavailable);

    // Back on the same port with the data kept.
    absl::Status restarted = server.StartGateway();
    ASSERT_TRUE(restarted.ok()) << restarted;
    CurlResult after = Curl(server, {}, "/arca-test/obj");
    EXPECT_EQ(after.http_code, "200");
    EXPECT_EQ(after.body, "hello rgw");
    pids = server.daemon_pids();
  }
  // Every daemon is reaped: its pid is gone or belongs to another process
  // that is not our child.
  for (pid_t pid : pids) {
    std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
    std::string contents;
    std::getline(stat, contents);
    if (contents.empty()) continue;
    // Field 4 (after "pid (comm) state") is the parent pid.
    size_t close_paren = contents.rfind(')');
    int ppid = std::atoi(contents.c_str() + close_paren + 4);
    EXPECT_NE(ppid, getpid()) << "daemon " << pid << " still running: " << contents;
  }
}

}  // namespace
}  // namespace arca::testing
