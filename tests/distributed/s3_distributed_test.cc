// The distributed pipeline on an S3 repository: two uploader replicas on
// one bucket of a real Ceph RGW on loopback (//libs/testing:rgw_server), the
// other services and the orchestrator as real processes, driven through
// the CLI in remote mode. Backup → restore → compare → verify (remote and
// embedded).
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "libs/fs/testing/awkward_tree.h"
#include "libs/fs/testing/tree_compare.h"
#include "libs/metrics/prometheus_process.h"
#include "libs/testing/rgw_server.h"
#include "tests/distributed/pipeline_cluster.h"

namespace arca::distributed {
namespace {

TEST(S3Distributed, TwoUploadersOnOneBucketBackupRestoreVerify) {
  absl::StatusOr<std::unique_ptr<testing::RgwServer>> rgw =
      testing::RgwServer::Start(NewTempDir("rgw"));
  ASSERT_TRUE(rgw.ok()) << rgw.status();
  ASSERT_TRUE((*rgw)->CreateBucket("pipeline").ok());
  // Every process of the cluster (arca init, the uploaders, arca verify)
  // inherits the endpoint and keys.
  setenv("AWS_ENDPOINT_URL", (*rgw)->endpoint().c_str(), 1);
  setenv("AWS_ACCESS_KEY_ID", (*rgw)->access_key().c_str(), 1);
  setenv("AWS_SECRET_ACCESS_KEY", (*rgw)->secret_key().c_str(), 1);
  setenv("AWS_REGION", (*rgw)->region().c_str(), 1);

  const std::string src = NewTempDir("awkward");
  testing::AwkwardTreeOptions tree;
  tree.large_file_bytes = 4u << 20;
  tree.small_files = 50;
  absl::Status made = testing::MakeAwkwardTree(src, tree);
  ASSERT_TRUE(made.ok()) << made;

  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster = PipelineCluster::Start(
      "s3://pipeline/arca",
      {.uploaders = 2, .compressors = 2, .all_args = {"--metrics-listen=127.0.0.1:0"}});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;
  std::unique_ptr<ServiceProcess> orch = StartOrchestrator(c, 2, 2);
  ASSERT_NE(orch, nullptr);

  RunResult backup = Remote(*orch, {"backup", src});
  ASSERT_EQ(backup.exit_code, 0) << backup.Describe() << orch->Stderr() << c.uploader(0).Stderr()
                                 << c.uploader(1).Stderr();
  const std::string id(absl::StripAsciiWhitespace(backup.out));
  ASSERT_EQ(id.rfind("testhost", 0), 0u) << id;

  RunResult snapshots = c.Snapshots();
  EXPECT_EQ(snapshots.exit_code, 0) << snapshots.Describe();
  EXPECT_NE(snapshots.out.find(id), std::string::npos) << snapshots.out;

  const std::string target = NewTempDir("restored") + "/tree";
  RunResult restore = Remote(*orch, {"restore", id, target});
  ASSERT_EQ(restore.exit_code, 0) << restore.Describe() << c.collector().Stderr();
  std::vector<std::string> diffs = testing::CompareTrees(src, target);
  EXPECT_TRUE(diffs.empty()) << absl::StrJoin(diffs, "\n");

  RunResult verify = Remote(*orch, {"verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();
  RunResult embedded = c.Verify();
  EXPECT_EQ(embedded.exit_code, 0) << embedded.Describe();

  EXPECT_TRUE(c.CheckAllServing().ok());

  // Both replicas wrote to the bucket, and say so in their S3 metrics.
  for (int i = 0; i < 2; ++i) {
    const std::string& address = c.uploader(i).metrics_address();
    ASSERT_FALSE(address.empty());
    int port = 0;
    ASSERT_TRUE(absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &port)) << address;
    absl::StatusOr<std::pair<int, std::string>> scrape = metrics::HttpGet(port, "/metrics");
    ASSERT_TRUE(scrape.ok()) << scrape.status();
    double puts = 0, gets = 0;
    for (absl::string_view line : absl::StrSplit(scrape->second, '\n')) {
      if (!absl::StartsWith(line, "arca_uploader_s3_requests_total{")) continue;
      double v = 0;
      ASSERT_TRUE(absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &v)) << line;
      if (absl::StrContains(line, "op=\"PutObject\"")) puts += v;
      if (absl::StrContains(line, "op=\"GetObject\"")) gets += v;
    }
    // Every replica stored chunks (the chunker spreads them) and read its
    // config at start.
    EXPECT_GT(puts, 0) << "uploader " << i << ":\n" << scrape->second;
    EXPECT_GT(gets, 0) << "uploader " << i;
    EXPECT_TRUE(absl::StrContains(scrape->second, "arca_uploader_s3_request_duration_seconds"))
        << "uploader " << i;
  }
}

}  // namespace
}  // namespace arca::distributed
