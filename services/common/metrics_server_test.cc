#include "services/common/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/metrics/service_metrics.h"
#include "prometheus/registry.h"
#include "tools/arca/cli_flags.h"

namespace arca::services {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

absl::StatusOr<MetricsFlags> Parse(const std::vector<std::string>& argv) {
  cli::FlagSpec spec;
  AddMetricsFlags(&spec);
  absl::StatusOr<cli::ParsedArgs> args = cli::ParseArgs(argv, spec);
  if (!args.ok()) return args.status();
  return ParseMetricsFlags(*args);
}

// GET /metrics over a plain socket; returns the whole HTTP response, or ""
// when the connection is refused.
std::string Scrape(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  const std::string request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  EXPECT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  std::string response;
  char buf[8192];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) response.append(buf, static_cast<size_t>(n));
  close(fd);
  return response;
}

TEST(MetricsFlagsTest, AbsentMeansNoEndpoint) {
  auto flags = Parse({});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->listen, "");
}

TEST(MetricsFlagsTest, ParsesHostAndPort) {
  auto flags = Parse({"--metrics-listen=[::1]:9464"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->host, "[::1]");
  EXPECT_EQ(flags->port, 9464);
}

TEST(MetricsFlagsTest, RejectsMalformedAddresses) {
  for (const char* bad : {"9464", ":9464", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                          "127.0.0.1:9x"}) {
    auto flags = Parse({std::string("--metrics-listen=") + bad});
    EXPECT_EQ(flags.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(flags.status().message(), HasSubstr("invalid --metrics-listen '" +
                                                    std::string(bad) + "'"));
  }
}

TEST(MetricsServerTest, ServesTheRegistryOnAFreePort) {
  auto registry = std::make_shared<prometheus::Registry>();
  metrics::CollectorMetrics collector(*registry);
  collector.read_bytes.Increment(42);
  auto flags = Parse({"--metrics-listen=127.0.0.1:0"});
  ASSERT_TRUE(flags.ok());
  auto server = MetricsServer::Start(*flags, registry, "collector", "test-1");
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  EXPECT_EQ((*server)->address(), "127.0.0.1:" + std::to_string((*server)->port()));

  std::string response = Scrape((*server)->port());
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200 OK"));
  EXPECT_THAT(response, HasSubstr("\narca_collector_read_bytes_total 42\n"));
  EXPECT_THAT(response,
              HasSubstr("\narca_build_info{service=\"collector\",version=\"test-1\"} 1\n"));
  EXPECT_THAT(response, HasSubstr("\nprocess_start_time_seconds "));

  collector.read_bytes.Increment(8);  // a live counter, not a snapshot
  EXPECT_THAT(Scrape((*server)->port()), HasSubstr("\narca_collector_read_bytes_total 50\n"));

  const int port = (*server)->port();
  server->reset();
  EXPECT_EQ(Scrape(port), "");  // stopped
}

TEST(MetricsServerTest, TakenPortIsAnErrorNotAnException) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto first = MetricsServer::Start({"127.0.0.1:0", "127.0.0.1", 0}, registry, "uploader", "t");
  ASSERT_TRUE(first.ok()) << first.status();
  const int port = (*first)->port();
  MetricsFlags taken{"127.0.0.1:" + std::to_string(port), "127.0.0.1", port};
  auto second = MetricsServer::Start(taken, registry, "uploader", "t");
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(),
              HasSubstr("cannot serve metrics on 127.0.0.1:" + std::to_string(port)));
}

TEST(MetricsServerTest, NonLocalAddressIsAnError) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto server =
      MetricsServer::Start({"192.0.2.1:0", "192.0.2.1", 0}, registry, "chunker", "t");
  EXPECT_EQ(server.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(server.status().message(), HasSubstr("cannot serve metrics on 192.0.2.1:0"));
}

TEST(MetricsServerTest, EmptyListenIsInvalid) {
  auto server =
      MetricsServer::Start({}, std::make_shared<prometheus::Registry>(), "chunker", "t");
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace arca::services
