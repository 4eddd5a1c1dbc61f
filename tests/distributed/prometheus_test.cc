// Issue 5, end to end: the five services as real processes on loopback, each
// with --metrics-listen, scraped by a real Prometheus server (Debian's
// /usr/bin/prometheus, started by the test with deploy/prometheus/alerts.yml
// loaded). A backup through the orchestrator (CLI remote mode) must show up
// in Prometheus with the job's exact statistics, in the orchestrator's job
// metrics and in each stage's own counters; a backup of a missing source
// (collection failure, exit 9) must be counted under phase "collection" and
// exit code 9, and fire the ArcaJobFailed alert.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "arca/v1/orchestrator.grpc.pb.h"
#include "gtest/gtest.h"
#include "libs/fs/testing/awkward_tree.h"
#include "libs/metrics/prometheus_process.h"
#include "services/common/client_channel.h"
#include "tests/distributed/pipeline_cluster.h"

namespace arca::distributed {
namespace {

using metrics::PrometheusProcess;

constexpr char kMetricsListen[] = "--metrics-listen=127.0.0.1:0";

// Sum of the values of an instant query (0 for an empty result).
double Sum(const std::vector<PrometheusProcess::Sample>& samples) {
  double total = 0;
  for (const auto& s : samples) total += s.value;
  return total;
}

class PrometheusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster =
        PipelineCluster::Start(NewTempDir("repo") + "/repo",
                               {.uploaders = 1, .compressors = 2, .all_args = {kMetricsListen}});
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    PipelineCluster& c = *cluster_;
    absl::StatusOr<std::unique_ptr<ServiceProcess>> orch = ServiceProcess::Start(
        Runfile("services/orchestrator/orchestrator"),
        {"--insecure", "--host=promhost", kMetricsListen, "--collector=" + c.collector().address(),
         "--chunker=" + c.chunker().address(),
         "--compressor=" + c.compressor(0).address() + "," + c.compressor(1).address(),
         "--uploader=" + c.uploader(0).address()});
    ASSERT_TRUE(orch.ok()) << orch.status();
    orchestrator_ = *std::move(orch);

    PrometheusProcess::Options options;
    options.work_dir = NewTempDir("prometheus");
    options.scrape_interval_ms = 500;
    options.rule_files = {Runfile("deploy/prometheus/alerts.yml")};
    const std::vector<std::pair<std::string, const ServiceProcess*>> targets = {
        {"arca-orchestrator", orchestrator_.get()},
        {"arca-collector", &c.collector()},
        {"arca-chunker", &c.chunker()},
        {"arca-compressor", &c.compressor(0)},
        {"arca-compressor", &c.compressor(1)},
        {"arca-uploader", &c.uploader(0)}};
    for (const auto& [job, process] : targets) {
      ASSERT_FALSE(process->metrics_address().empty())
          << job << " printed no 'metrics listening on' line";
      options.targets.push_back({job, process->metrics_address()});
    }
    absl::StatusOr<std::unique_ptr<PrometheusProcess>> prometheus =
        PrometheusProcess::Start(options);
    ASSERT_TRUE(prometheus.ok()) << prometheus.status();
    prometheus_ = *std::move(prometheus);
    // Every target is up before the job starts.
    absl::StatusOr<std::vector<PrometheusProcess::Sample>> up = prometheus_->WaitFor(
        "up == 1", [&](const auto& s) { return s.size() == targets.size(); },
        std::chrono::seconds(30));
    ASSERT_TRUE(up.ok()) << up.status() << prometheus_->log();
  }

  RunResult Remote(std::vector<std::string> args) {
    std::vector<std::string> argv = {ArcaBinary(), "--orchestrator=" + orchestrator_->address(),
                                     "--insecure"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProgram(argv, absl::Seconds(120));
  }

  // The oldest job the orchestrator keeps, in full.
  v1::Job FirstJob() {
    services::ClientTlsFlags tls;
    tls.insecure = true;
    auto stub = v1::Orchestrator::NewStub(*services::MakeChannel(orchestrator_->address(), tls));
    grpc::ClientContext ctx;
    v1::ListJobsRequest request;
    request.set_page_size(1);
    v1::ListJobsResponse response;
    grpc::Status st = stub->ListJobs(&ctx, request, &response);
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(response.jobs_size(), 1);
    return response.jobs_size() == 1 ? GetJob(response.jobs(0).id()) : v1::Job();
  }

  v1::Job GetJob(const std::string& id) {
    services::ClientTlsFlags tls;
    tls.insecure = true;
    auto stub = v1::Orchestrator::NewStub(*services::MakeChannel(orchestrator_->address(), tls));
    grpc::ClientContext ctx;
    v1::GetJobRequest request;
    request.set_id(id);
    v1::Job job;
    grpc::Status st = stub->GetJob(&ctx, request, &job);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return job;
  }

  // Waits until the summed value of `promql` is `expected` (exactly: these
  // are integer counters far below 2^53).
  void ExpectEventually(const std::string& promql, double expected) {
    absl::StatusOr<std::vector<PrometheusProcess::Sample>> r = prometheus_->WaitFor(
        promql, [&](const auto& s) { return !s.empty() && Sum(s) == expected; },
        std::chrono::seconds(20));
    EXPECT_TRUE(r.ok()) << promql << " never became " << static_cast<uint64_t>(expected) << ": "
                        << r.status();
  }

  // Waits until the summed value of `promql` is within [low, high].
  void ExpectEventuallyBetween(const std::string& promql, double low, double high) {
    absl::StatusOr<std::vector<PrometheusProcess::Sample>> r = prometheus_->WaitFor(
        promql, [&](const auto& s) { return !s.empty() && Sum(s) >= low && Sum(s) <= high; },
        std::chrono::seconds(20));
    EXPECT_TRUE(r.ok()) << promql << " never came within [" << static_cast<uint64_t>(low) << ", "
                        << static_cast<uint64_t>(high) << "]: " << r.status();
  }

  std::unique_ptr<PipelineCluster> cluster_;
  std::unique_ptr<ServiceProcess> orchestrator_;
  std::unique_ptr<PrometheusProcess> prometheus_;
};

TEST_F(PrometheusTest, BackupCountersMatchTheJobAndACollectionFailureIsCountedAsPhase9) {
  const std::string src = NewTempDir("src");
  testing::AwkwardTreeOptions tree;
  tree.large_file_bytes = 3u << 20;
  tree.small_files = 40;
  absl::Status made = testing::MakeAwkwardTree(src, tree);
  ASSERT_TRUE(made.ok()) << made;

  RunResult backup = Remote({"backup", src});
  ASSERT_EQ(backup.exit_code, 0) << backup.Describe() << orchestrator_->Stderr();
  const v1::Job job = FirstJob();
  const v1::BackupStats& stats = job.stats();
  ASSERT_GT(stats.bytes_collected(), 3u << 20);
  ASSERT_GT(stats.chunks_new(), 0u);

  // The orchestrator's job metrics.
  ExpectEventually(R"(arca_jobs_total{job="arca-orchestrator",type="backup",result="success"})", 1);
  ExpectEventually("sum(arca_job_collected_bytes_total)", stats.bytes_collected());
  ExpectEventually("sum(arca_job_new_chunks_total)", stats.chunks_new());
  ExpectEventually("sum(arca_job_stored_bytes_total)", stats.bytes_new_stored());
  ExpectEventually("sum(arca_job_files_total)", stats.files());
  ExpectEventually(R"(arca_last_job_exit_code{group=~"promhost.*"})", 0);
  absl::StatusOr<std::vector<PrometheusProcess::Sample>> last =
      prometheus_->Query("arca_last_success_timestamp_seconds");
  ASSERT_TRUE(last.ok()) << last.status();
  ASSERT_EQ(last->size(), 1u);
  EXPECT_NEAR((*last)[0].value, job.end_unix_ns() / 1e9, 5.0);

  // Each stage's own counters, summed over replicas, tell the same story.
  ExpectEventually("sum(arca_collector_read_bytes_total)", stats.bytes_read());
  ExpectEventually("sum(arca_chunker_new_chunks_total)", stats.chunks_new());
  // Compress-first (services/chunker/README.md): the compressors also see
  // the duplicates they hash, between the new bytes and new + deduplicated.
  ExpectEventuallyBetween(R"(sum(arca_compressor_raw_bytes_total{op="compress"}))",
                          stats.bytes_new_raw(),
                          stats.bytes_new_raw() + stats.bytes_deduplicated());
  ExpectEventually("sum(arca_uploader_written_bytes_total)", stats.bytes_new_stored());
  ExpectEventually("sum(arca_uploader_written_chunks_total)", stats.chunks_new());
  // Every service served RPCs, counted by the interceptor with a method label.
  ExpectEventually(
      R"(count(sum by (job) (arca_uploader_rpcs_total{method="Uploader/PutChunks",code="OK"}) > 0))",
      1);
  ExpectEventually(
      R"(sum(arca_orchestrator_rpcs_total{method="Orchestrator/StartBackup",code="OK"}))", 1);

  // An injected collection failure: the source does not exist.
  RunResult missing = Remote({"backup", src + "/does-not-exist"});
  ASSERT_EQ(missing.exit_code, 9) << missing.Describe();
  ExpectEventually(R"(arca_job_failures_total{phase="collection",exit_code="9"})", 1);
  ExpectEventually(R"(arca_jobs_total{type="backup",result="failure"})", 1);
  ExpectEventually(R"(sum(arca_collector_errors_total{phase="collection",exit_code="9"}))", 1);
  // The success is still the group's last success.
  ExpectEventually(R"(arca_jobs_total{type="backup",result="success"})", 1);
  ExpectEventually(
      R"(ALERTS{alertname="ArcaJobFailed",alertstate="firing",phase="collection",exit_code="9"})",
      1);
}

}  // namespace
}  // namespace arca::distributed
