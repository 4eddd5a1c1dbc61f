#include "services/common/metrics_server.h"

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/base/cli_flags.h"
#include "libs/metrics/job_metrics.h"
#include "libs/metrics/prometheus_process.h"
#include "libs/metrics/service_metrics.h"
#include "prometheus/registry.h"

namespace arca::services {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<MetricsFlags> Parse(const std::vector<std::string>& argv) {
  cli::FlagSpec spec;
  AddMetricsFlags(&spec);
  absl::StatusOr<cli::ParsedArgs> args = cli::ParseArgs(argv, spec);
  if (!args.ok()) return args.status();
  return ParseMetricsFlags(*args);
}

// GET /metrics: the body of a 200 answer (the test fails on another status),
// or "" when nothing answers.
std::string Scrape(int port) {
  absl::StatusOr<std::pair<int, std::string>> r = metrics::HttpGet(port, "/metrics");
  if (!r.ok()) return "";
  EXPECT_EQ(r->first, 200);
  return r->second;
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
  for (const char* bad :
       {"9464", ":9464", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:9x"}) {
    auto flags = Parse({std::string("--metrics-listen=") + bad});
    EXPECT_EQ(flags.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(flags.status().message(),
                HasSubstr("invalid --metrics-listen '" + std::string(bad) + "'"));
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
  auto server = MetricsServer::Start({"192.0.2.1:0", "192.0.2.1", 0}, registry, "chunker", "t");
  EXPECT_EQ(server.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(server.status().message(), HasSubstr("cannot serve metrics on 192.0.2.1:0"));
}

TEST(MetricsServerTest, EmptyListenIsInvalid) {
  auto server = MetricsServer::Start({}, std::make_shared<prometheus::Registry>(), "chunker", "t");
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
}

// End to end with the real Prometheus server: it scrapes two endpoints,
// finds the counters, and the alert rules of deploy/prometheus fire
// ArcaJobFailed for a collection failure (exit 9).
TEST(MetricsServerTest, RealPrometheusScrapesAndAlerts) {
  using metrics::PrometheusProcess;
  using Samples = std::vector<PrometheusProcess::Sample>;
  auto collector_registry = std::make_shared<prometheus::Registry>();
  metrics::CollectorMetrics collector(*collector_registry);
  collector.read_bytes.Increment(4096);
  auto orchestrator_registry = std::make_shared<prometheus::Registry>();
  metrics::OrchestratorMetrics orchestrator(*orchestrator_registry);
  auto collector_server =
      MetricsServer::Start({"127.0.0.1:0", "127.0.0.1", 0}, collector_registry, "collector", "t");
  ASSERT_TRUE(collector_server.ok()) << collector_server.status();
  auto orchestrator_server = MetricsServer::Start({"127.0.0.1:0", "127.0.0.1", 0},
                                                  orchestrator_registry, "orchestrator", "t");
  ASSERT_TRUE(orchestrator_server.ok()) << orchestrator_server.status();

  PrometheusProcess::Options options;
  options.work_dir = std::string(std::getenv("TEST_TMPDIR")) + "/prometheus";
  options.targets = {{"arca-collector", (*collector_server)->address()},
                     {"arca-orchestrator", (*orchestrator_server)->address()}};
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  options.rule_files = {std::string(cwd) + "/deploy/prometheus/alerts.yml"};
  auto prom = PrometheusProcess::Start(options);
  ASSERT_TRUE(prom.ok()) << prom.status();
  const auto timeout = std::chrono::seconds(30);
  auto equals = [](double v) {
    return [v](const Samples& s) { return s.size() == 1 && s[0].value == v; };
  };

  auto up = (*prom)->WaitFor("sum(up{job=~\"arca-.*\"})", equals(2), timeout);
  ASSERT_TRUE(up.ok()) << up.status() << (*prom)->log();
  auto bytes = (*prom)->WaitFor("arca_collector_read_bytes_total{job=\"arca-collector\"}",
                                equals(4096), timeout);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(bytes->at(0).labels.at("instance"), (*collector_server)->address());

  const std::string failures =
      "arca_job_failures_total{job=\"arca-orchestrator\",phase=\"collection\",exit_code=\"9\"}";
  ASSERT_TRUE((*prom)->WaitFor(failures, equals(0), timeout).ok());  // precreated at 0
  auto alerts = (*prom)->Query("ALERTS{alertname=\"ArcaJobFailed\"}");
  ASSERT_TRUE(alerts.ok()) << alerts.status();
  EXPECT_TRUE(alerts->empty());

  metrics::JobOutcome outcome;
  outcome.type = "backup";
  outcome.group = "home";
  outcome.exit_code = 9;
  outcome.failed_phase = v1::PHASE_COLLECTION;
  metrics::RecordJobResult(orchestrator.jobs, outcome);
  ASSERT_TRUE((*prom)->WaitFor(failures, equals(1), timeout).ok());
  auto firing = (*prom)->WaitFor(
      "ALERTS{alertname=\"ArcaJobFailed\",alertstate=\"firing\"}",
      [](const Samples& s) { return s.size() == 1; }, timeout);
  ASSERT_TRUE(firing.ok()) << firing.status() << (*prom)->log();
  EXPECT_EQ(firing->at(0).labels.at("phase"), "collection");
  EXPECT_EQ(firing->at(0).labels.at("exit_code"), "9");
  EXPECT_EQ(firing->at(0).labels.at("job"), "arca-orchestrator");
}

}  // namespace
}  // namespace arca::services
