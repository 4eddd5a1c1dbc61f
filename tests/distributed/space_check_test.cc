// The free-space check of a distributed backup (libs/pipeline/space_check.h
// in the chunker), with real processes on loopback: a repository on a small
// tmpfs, a huge --space-safety-factor through the orchestrator and the CLI,
// the smallest of several uploader replicas, the parent snapshot's size
// standing in for a walk, and bad input to the new RPCs and fields. After a
// refusal nothing is written: no snapshot, no chunk file.
#include <sys/mount.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "arca/v1/collector.grpc.pb.h"
#include "arca/v1/orchestrator.grpc.pb.h"
#include "arca/v1/uploader.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "libs/base/phase_status.h"
#include "libs/rpc/status_convert.h"
#include "services/common/client_channel.h"
#include "tests/distributed/pipeline_cluster.h"

namespace arca::distributed {
namespace {

namespace stdfs = std::filesystem;

std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
  services::ClientTlsFlags tls;
  tls.insecure = true;
  return *services::MakeChannel(address, tls);
}

void WriteRandomFile(const std::string& path, size_t bytes, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string data(bytes, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  std::ofstream(path, std::ios::binary) << data;
}

class SpaceCheckTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const std::string& m : mounts_) {
      if (umount2(m.c_str(), MNT_DETACH) != 0) {
        ADD_FAILURE() << "umount " << m << ": " << strerror(errno);
      }
    }
  }

  // A fresh tmpfs of `size` ("2m") mounted on a new directory; "" when
  // mounting is not possible here (the caller skips).
  std::string Tmpfs(const std::string& name, const std::string& size) {
    const std::string dir = NewTempDir(name);
    if (mount("tmpfs", dir.c_str(), "tmpfs", 0, ("size=" + size).c_str()) != 0) {
      mount_error_ = strerror(errno);
      return "";
    }
    mounts_.push_back(dir);
    return dir;
  }

  std::vector<std::string> mounts_;
  std::string mount_error_;
};

TEST_F(SpaceCheckTest, RepositoryOnA2MiBTmpfsRefusesA3MiBSourceWritingNothing) {
  const std::string mnt = Tmpfs("small_fs", "2m");
  if (mnt.empty()) GTEST_SKIP() << "cannot mount a tmpfs here (" << mount_error_ << ")";
  const std::string src = NewTempDir("bigsrc");
  WriteRandomFile(src + "/random.bin", 3u << 20, 3);
  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster =
      PipelineCluster::Start(mnt + "/repo", {.uploaders = 2, .compressors = 1});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;

  // The chunker directly.
  JobOutcome out = c.RunBackup(c.BackupPlan(src));
  EXPECT_EQ(out.status.code(), absl::StatusCode::kResourceExhausted) << out.Describe();
  EXPECT_EQ(PhaseOf(out.status), v1::PHASE_SETUP) << out.Describe();
  const std::string msg(out.status.message());
  EXPECT_NE(msg.find("not enough free space in " + c.repo()), std::string::npos) << msg;
  EXPECT_NE(msg.find(std::to_string(3u << 20) + " bytes to collect"), std::string::npos) << msg;
  EXPECT_NE(msg.find("safety factor 1.5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("bytes) are free; free space or lower --space-safety-factor"),
            std::string::npos)
      << msg;
  EXPECT_FALSE(out.result.has_value());

  // Through the orchestrator and the CLI: exit 5, phase setup.
  std::unique_ptr<ServiceProcess> orch = StartOrchestrator(c, 2, 1);
  ASSERT_NE(orch, nullptr);
  RunResult r = Remote(*orch, {"backup", src});
  EXPECT_EQ(r.exit_code, 5) << r.Describe() << c.chunker().Stderr();
  EXPECT_NE(r.err.find("in phase setup"), std::string::npos) << r.Describe();
  EXPECT_NE(r.err.find("not enough free space"), std::string::npos) << r.Describe();
  EXPECT_NE(r.err.find(std::to_string(3u << 20)), std::string::npos) << r.Describe();

  auto stub = v1::Orchestrator::NewStub(Channel(orch->address()));
  grpc::ClientContext ctx;
  v1::ListJobsResponse jobs;
  ASSERT_TRUE(stub->ListJobs(&ctx, v1::ListJobsRequest(), &jobs).ok());
  ASSERT_EQ(jobs.jobs_size(), 1);
  const v1::Job& job = jobs.jobs(0);
  EXPECT_EQ(job.state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(job.status().exit_code(), v1::EXIT_CODE_NO_SPACE);
  EXPECT_EQ(job.status().failed_phase(), v1::PHASE_SETUP);
  EXPECT_EQ(job.status().grpc_code(), static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));

  EXPECT_EQ(VisibleSnapshots(c.repo()), 0);
  EXPECT_EQ(ChunkFiles(c.repo()), 0) << "a refused backup stores no chunk";
  EXPECT_TRUE(c.CheckAllServing().ok());
}

TEST_F(SpaceCheckTest, HugeSafetyFactorRefusesAndTheParentsSizeStandsInForTheWalk) {
  // 32 MiB: room for a 1 MiB source at the default factor, not at 100.
  const std::string mnt = Tmpfs("fs32", "32m");
  if (mnt.empty()) GTEST_SKIP() << "cannot mount a tmpfs here (" << mount_error_ << ")";
  const std::string src = NewTempDir("src");
  WriteRandomFile(src + "/a.bin", 1u << 20, 1);
  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster =
      PipelineCluster::Start(mnt + "/repo", {.uploaders = 1, .compressors = 1});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;
  std::unique_ptr<ServiceProcess> orch = StartOrchestrator(c, 1, 1);
  ASSERT_NE(orch, nullptr);

  RunResult first = Remote(*orch, {"backup", src, "--change-detection", "data"});
  ASSERT_EQ(first.exit_code, 0) << first.Describe() << c.chunker().Stderr();
  ASSERT_EQ(VisibleSnapshots(c.repo()), 1);
  const int chunks = ChunkFiles(c.repo());
  ASSERT_GT(chunks, 0);

  // The source grows by 512 KiB. With the parent (metadata change
  // detection, the default) the parent's 1 MiB collected stands in, as in
  // the embedded backup; with data change detection the walk counts 1.5 MiB.
  WriteRandomFile(src + "/b.bin", 512u << 10, 2);
  RunResult with_parent = Remote(*orch, {"backup", src, "--space-safety-factor", "100"});
  EXPECT_EQ(with_parent.exit_code, 5) << with_parent.Describe() << c.chunker().Stderr();
  EXPECT_NE(with_parent.err.find(absl::StrCat(1u << 20, " bytes to collect")), std::string::npos)
      << with_parent.Describe();
  EXPECT_NE(with_parent.err.find("safety factor 100"), std::string::npos) << with_parent.Describe();

  RunResult walked =
      Remote(*orch, {"backup", src, "--change-detection", "data", "--space-safety-factor", "100"});
  EXPECT_EQ(walked.exit_code, 5) << walked.Describe();
  EXPECT_NE(walked.err.find(absl::StrCat(3u << 19, " bytes to collect")), std::string::npos)
      << walked.Describe();

  // An exclude is honoured by the estimate: without b.bin it is 1 MiB again.
  RunResult excluded = Remote(*orch, {"backup", src, "--change-detection", "data", "--exclude",
                                      "b.bin", "--space-safety-factor", "100"});
  EXPECT_EQ(excluded.exit_code, 5) << excluded.Describe();
  EXPECT_NE(excluded.err.find(absl::StrCat(1u << 20, " bytes to collect")), std::string::npos)
      << excluded.Describe();

  EXPECT_EQ(VisibleSnapshots(c.repo()), 1) << "refused backups commit nothing";
  EXPECT_EQ(ChunkFiles(c.repo()), chunks) << "refused backups store no chunk";

  // The default factor still fits: the incremental backup succeeds.
  RunResult second = Remote(*orch, {"backup", src});
  EXPECT_EQ(second.exit_code, 0) << second.Describe() << c.chunker().Stderr();
  EXPECT_EQ(VisibleSnapshots(c.repo()), 2);

  // --no-space-check (BackupPlan.skip_space_check): the same refused
  // factor, and the backup runs.
  RunResult unchecked = Remote(*orch, {"backup", src, "--change-detection", "data",
                                       "--space-safety-factor", "100", "--no-space-check"});
  EXPECT_EQ(unchecked.exit_code, 0) << unchecked.Describe() << c.chunker().Stderr();
  EXPECT_EQ(VisibleSnapshots(c.repo()), 3);
  EXPECT_TRUE(c.CheckAllServing().ok());
}

TEST_F(SpaceCheckTest, TheSmallestUploaderReplicaDecides) {
  const std::string mnt = Tmpfs("small_replica", "2m");
  if (mnt.empty()) GTEST_SKIP() << "cannot mount a tmpfs here (" << mount_error_ << ")";
  const std::string src = NewTempDir("src");
  WriteRandomFile(src + "/random.bin", 3u << 20, 5);
  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster =
      PipelineCluster::Start(NewTempDir("repo") + "/repo", {.uploaders = 1, .compressors = 1});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;
  // A second replica of the same (still empty) repository on the small file
  // system.
  const std::string copy = mnt + "/repo";
  stdfs::copy(c.repo(), copy, stdfs::copy_options::recursive);
  absl::StatusOr<std::unique_ptr<ServiceProcess>> small =
      ServiceProcess::Start(Runfile("services/uploader/uploader"), {"--repo", copy, "--insecure"});
  ASSERT_TRUE(small.ok()) << small.status();

  v1::BackupPlan plan = c.BackupPlan(src);
  plan.add_uploaders((*small)->address());
  JobOutcome out = c.RunBackup(plan);
  EXPECT_EQ(out.status.code(), absl::StatusCode::kResourceExhausted) << out.Describe();
  EXPECT_EQ(PhaseOf(out.status), v1::PHASE_SETUP);
  EXPECT_NE(out.status.message().find(copy + " (uploader " + (*small)->address() + ")"),
            std::string::npos)
      << out.Describe();
  EXPECT_EQ(VisibleSnapshots(c.repo()), 0);
  EXPECT_EQ(ChunkFiles(c.repo()), 0);
  EXPECT_EQ(ChunkFiles(copy), 0);

  // Without the small replica the same plan fits.
  JobOutcome ok = c.RunBackup(c.BackupPlan(src));
  EXPECT_TRUE(ok.status.ok()) << ok.Describe();
  // The estimate is the progress's bytes_total, as in the embedded backup.
  int with_total = 0;
  for (const v1::StageEvent& e : ok.events) {
    if (!e.has_progress()) continue;
    EXPECT_EQ(e.progress().bytes_total(), 3u << 20) << e.ShortDebugString();
    ++with_total;
  }
  EXPECT_GT(with_total, 0) << ok.Describe();
  EXPECT_EQ(VisibleSnapshots(c.repo()), 1);
  (*small)->Stop();
}

TEST_F(SpaceCheckTest, BadInputToTheNewRpcsAndFields) {
  const std::string src = NewTempDir("src");
  WriteRandomFile(src + "/a.bin", 100000, 7);
  WriteRandomFile(src + "/skip.tmp", 50000, 8);
  stdfs::create_directories(src + "/d");
  WriteRandomFile(src + "/d/b.bin", 20000, 9);
  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster =
      PipelineCluster::Start(NewTempDir("repo") + "/repo", {.uploaders = 1, .compressors = 1});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;

  // Collector.EstimateCollect.
  auto collector = v1::Collector::NewStub(Channel(c.collector().address()));
  auto estimate = [&](const v1::CollectRequest& req, v1::CollectEstimate* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return rpc::FromGrpcStatus(collector->EstimateCollect(&ctx, req, resp));
  };
  v1::CollectRequest req;
  v1::CollectEstimate resp;
  req.set_source(src);
  ASSERT_TRUE(estimate(req, &resp).ok());
  EXPECT_EQ(resp.bytes(), 170000u);
  req.add_excludes("*.tmp");
  ASSERT_TRUE(estimate(req, &resp).ok());
  EXPECT_EQ(resp.bytes(), 120000u);
  struct Bad {
    std::string source;
    std::string exclude;
    absl::StatusCode code;
    std::string fragment;
  };
  for (const Bad& b : std::vector<Bad>{
           {"", "", absl::StatusCode::kInvalidArgument, "must be an absolute path"},
           {"relative/dir", "", absl::StatusCode::kInvalidArgument, "must be an absolute path"},
           {src + "/missing", "", absl::StatusCode::kNotFound, src + "/missing"},
           {src + "/a.bin", "", absl::StatusCode::kFailedPrecondition, "is not a directory"},
           {src, "[", absl::StatusCode::kInvalidArgument, "["},
       }) {
    v1::CollectRequest r;
    r.set_source(b.source);
    if (!b.exclude.empty()) r.add_excludes(b.exclude);
    absl::Status st = estimate(r, &resp);
    EXPECT_EQ(st.code(), b.code) << b.source << ": " << st;
    EXPECT_EQ(PhaseOf(st), v1::PHASE_COLLECTION) << st;
    EXPECT_NE(st.message().find(b.fragment), std::string::npos) << st;
  }

  // Uploader.GetSpace.
  auto uploader = v1::Uploader::NewStub(Channel(c.uploader(0).address()));
  {
    grpc::ClientContext ctx;
    v1::GetSpaceResponse space;
    ASSERT_TRUE(uploader->GetSpace(&ctx, v1::GetSpaceRequest(), &space).ok());
    EXPECT_GT(space.free_bytes(), 0u);
    EXPECT_GE(space.total_bytes(), space.free_bytes());
    EXPECT_EQ(space.path(), c.repo());
    EXPECT_DOUBLE_EQ(space.compression_ratio(), 1.0) << "no snapshot yet";
  }

  // space_safety_factor: the chunker's plan and the orchestrator's request.
  std::unique_ptr<ServiceProcess> orch = StartOrchestrator(c, 1, 1);
  ASSERT_NE(orch, nullptr);
  auto orchestrator = v1::Orchestrator::NewStub(Channel(orch->address()));
  for (double f :
       {-1.0, 0.5, 100.5, 1e300, std::nan(""), std::numeric_limits<double>::infinity()}) {
    v1::BackupPlan plan = c.BackupPlan(src);
    plan.set_space_safety_factor(f);
    JobOutcome out = c.RunBackup(plan);
    EXPECT_EQ(out.status.code(), absl::StatusCode::kInvalidArgument) << f << out.Describe();
    EXPECT_EQ(PhaseOf(out.status), v1::PHASE_SETUP) << out.Describe();
    EXPECT_NE(out.status.message().find("plan.space_safety_factor"), std::string::npos)
        << out.Describe();

    v1::StartBackupRequest start;
    start.set_source(src);
    start.set_space_safety_factor(f);
    grpc::ClientContext ctx;
    v1::Job job;
    grpc::Status st = orchestrator->StartBackup(&ctx, start, &job);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << f;
    EXPECT_NE(st.error_message().find("space_safety_factor"), std::string::npos)
        << st.error_message();
  }
  // The CLI refuses what is not a number before calling anything.
  RunResult cli = Remote(*orch, {"backup", src, "--space-safety-factor", "lots"});
  EXPECT_EQ(cli.exit_code, 2) << cli.Describe();
  RunResult nan = Remote(*orch, {"backup", src, "--space-safety-factor", "nan"});
  EXPECT_EQ(nan.exit_code, 2) << nan.Describe();
  EXPECT_NE(nan.err.find("space_safety_factor"), std::string::npos) << nan.Describe();

  {
    grpc::ClientContext ctx;
    v1::ListJobsResponse jobs;
    ASSERT_TRUE(orchestrator->ListJobs(&ctx, v1::ListJobsRequest(), &jobs).ok());
    EXPECT_EQ(jobs.jobs_size(), 0) << "bad requests start no job";
  }
  EXPECT_EQ(VisibleSnapshots(c.repo()), 0);
  EXPECT_EQ(ChunkFiles(c.repo()), 0);
  EXPECT_TRUE(c.CheckAllServing().ok());
}

}  // namespace
}  // namespace arca::distributed
