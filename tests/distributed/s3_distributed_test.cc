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

#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "libs/fs/testing/awkward_tree.h"
#include "libs/fs/testing/tree_compare.h"
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

  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster =
      PipelineCluster::Start("s3://pipeline/arca", {.uploaders = 2, .compressors = 2});
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
}

}  // namespace
}  // namespace arca::distributed
