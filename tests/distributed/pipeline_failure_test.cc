// Failures of the distributed pipeline with real processes: a collector or a
// compressor killed mid-backup, the caller cancelling, bad input to every
// RPC of the collector and the chunker. After each, no partial snapshot is
// visible, the repository verifies, and the surviving services still serve.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "arca/v1/collector.grpc.pb.h"
#include "gtest/gtest.h"
#include "libs/base/phase_status.h"
#include "libs/fs/testing/tree_compare.h"
#include "libs/rpc/status_convert.h"
#include "services/common/client_channel.h"
#include "tests/distributed/pipeline_cluster.h"

namespace arca::distributed {
namespace {

namespace stdfs = std::filesystem;

// `files` files of `bytes` compressible text each (xz takes its time on them,
// so a backup is still running when a process is killed).
std::string MakeTextTree(const std::string& name, int files, size_t bytes, uint32_t seed) {
  const std::string root = NewTempDir(name);
  std::mt19937 rng(seed);
  for (int i = 0; i < files; ++i) {
    std::string data(bytes, '\0');
    for (char& ch : data) ch = static_cast<char>('a' + rng() % 26);
    const std::string dir = absl::StrCat(root, "/d", i % 4);
    stdfs::create_directories(dir);
    std::ofstream(absl::StrCat(dir, "/f", i, ".txt"), std::ios::binary) << data;
  }
  return root;
}

std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
  services::ClientTlsFlags tls;
  tls.insecure = true;
  return *services::MakeChannel(address, tls);
}

v1::BackupPlan SlowPlan(PipelineCluster& c, const std::string& src) {
  v1::BackupPlan plan = c.BackupPlan(src);
  plan.set_codec(v1::CODEC_XZ);
  plan.set_level(6);
  return plan;
}

// Restores `snapshot` into a fresh directory and expects the tree `src` back
// (every attribute but the root's), then a clean `arca verify`.
void ExpectRestoresAndVerifies(PipelineCluster& c, const std::string& snapshot,
                               const std::string& src) {
  const std::string target = NewTempDir("restored") + "/t";
  JobOutcome restore = c.RunRestore(c.RestorePlan(snapshot, target));
  ASSERT_TRUE(restore.status.ok()) << restore.Describe();
  testing::CompareOptions compare;
  compare.compare_root_metadata = false;
  std::vector<std::string> diffs = testing::CompareTrees(src, target, compare);
  EXPECT_TRUE(diffs.empty()) << absl::StrJoin(diffs, "\n");
  RunResult verify = c.Verify();
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();
}

TEST(PipelineFailure, CollectorKilledMidBackupFailsWithCollectionPhaseAndCommitsNothing) {
  const std::string src = MakeTextTree("src", 24, 1u << 20, 1);
  // A small window: the collector is held back (flow control) while the
  // compressors work, so it is still streaming when it dies.
  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster = PipelineCluster::Start(
      NewTempDir("repo") + "/repo",
      {.compressors = 2, .compressor_threads = 1, .chunker_args = {"--max-chunks-in-flight", "4"}});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;
  bool killed = false;
  JobOutcome out = c.RunBackup(SlowPlan(c, src), [&](const v1::StageEvent& e) {
    if (!killed && e.has_progress() && e.progress().bytes_done() > 0) {
      c.collector().Signal(SIGKILL);
      killed = true;
    }
    return true;
  });
  ASSERT_TRUE(killed) << out.Describe();
  EXPECT_FALSE(out.status.ok()) << out.Describe();
  EXPECT_EQ(PhaseOf(out.status), v1::PHASE_COLLECTION) << out.Describe();
  EXPECT_EQ(ExitCodeOf(out.status), ExitCode::kCollection) << out.Describe();
  EXPECT_NE(out.status.message().find("collector " + c.collector().address()), std::string::npos)
      << out.Describe();
  EXPECT_FALSE(out.result.has_value());
  EXPECT_EQ(VisibleSnapshots(c.repo()), 0);
  RunResult verify = c.Verify();
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();
  EXPECT_TRUE(c.CheckAllServing().ok());

  // The chunker survives: a new collector and the same plan succeed.
  std::vector<std::string> collector_args = CollectorRootFlags();
  collector_args.push_back("--insecure");
  absl::StatusOr<std::unique_ptr<ServiceProcess>> collector =
      ServiceProcess::Start(Runfile("services/collector/collector"), collector_args);
  ASSERT_TRUE(collector.ok()) << collector.status();
  v1::BackupPlan plan = c.BackupPlan(src);
  plan.set_collector((*collector)->address());
  // Chunks the killed run stored stay (unreferenced until the rerun); the
  // rerun reuses them and writes only the ones missing: each chunk file is
  // written once.
  const int chunks_before = ChunkFiles(c.repo());
  JobOutcome rerun = c.RunBackup(plan);
  ASSERT_TRUE(rerun.status.ok()) << rerun.Describe();
  ASSERT_TRUE(rerun.result.has_value());
  EXPECT_EQ(VisibleSnapshots(c.repo()), 1);
  const v1::BackupStats& stats = rerun.result->stats();
  EXPECT_EQ(static_cast<uint64_t>(ChunkFiles(c.repo()) - chunks_before), stats.chunks_new())
      << "stored before the rerun: " << chunks_before;
}

TEST(PipelineFailure, OneOfTwoCompressorsKilledMidBackupStillSucceeds) {
  const std::string src = MakeTextTree("src", 16, 1u << 20, 2);
  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster = PipelineCluster::Start(
      NewTempDir("repo") + "/repo", {.compressors = 2, .compressor_threads = 1});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;
  bool killed = false;
  int progress = 0;
  JobOutcome out = c.RunBackup(SlowPlan(c, src), [&](const v1::StageEvent& e) {
    // The second progress event: half a second in, both compressors busy.
    if (e.has_progress() && ++progress == 2) {
      c.compressor(0).Signal(SIGKILL);
      killed = true;
    }
    return true;
  });
  ASSERT_TRUE(killed) << out.Describe();
  ASSERT_TRUE(out.status.ok()) << out.Describe() << c.chunker().Stderr();
  ASSERT_TRUE(out.result.has_value());
  EXPECT_EQ(out.result->exit_code(), 0);
  EXPECT_EQ(out.result->stats().files_read(), 16u);
  EXPECT_NE(c.chunker().Stderr().find("down: compressor " + c.compressor(0).address()),
            std::string::npos)
      << c.chunker().Stderr();

  ExpectRestoresAndVerifies(c, out.result->snapshot(), src);
}

TEST(PipelineFailure, OneOfTwoUploadersKilledMidBackupStillSucceeds) {
  const std::string src = MakeTextTree("src", 16, 1u << 20, 7);
  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster = PipelineCluster::Start(
      NewTempDir("repo") + "/repo", {.uploaders = 2, .compressors = 2, .compressor_threads = 1});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;
  bool killed = false;
  int progress = 0;
  JobOutcome out = c.RunBackup(SlowPlan(c, src), [&](const v1::StageEvent& e) {
    if (e.has_progress() && ++progress == 2) {
      c.uploader(0).Signal(SIGKILL);
      killed = true;
    }
    return true;
  });
  ASSERT_TRUE(killed) << out.Describe();
  ASSERT_TRUE(out.status.ok()) << out.Describe() << c.chunker().Stderr();
  EXPECT_NE(c.chunker().Stderr().find("down: uploader " + c.uploader(0).address()),
            std::string::npos)
      << c.chunker().Stderr();
  ExpectRestoresAndVerifies(c, out.result->snapshot(), src);
}

TEST(PipelineFailure, OnlyCompressorKilledFailsWithCompressionPhase) {
  const std::string src = MakeTextTree("src", 16, 1u << 20, 3);
  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster = PipelineCluster::Start(
      NewTempDir("repo") + "/repo", {.compressors = 1, .compressor_threads = 1});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;
  bool killed = false;
  JobOutcome out = c.RunBackup(SlowPlan(c, src), [&](const v1::StageEvent& e) {
    if (!killed && e.has_progress() && e.progress().bytes_done() > 0) {
      c.compressor(0).Signal(SIGKILL);
      killed = true;
    }
    return true;
  });
  ASSERT_TRUE(killed);
  EXPECT_EQ(out.status.code(), absl::StatusCode::kUnavailable) << out.Describe();
  EXPECT_EQ(PhaseOf(out.status), v1::PHASE_COMPRESSION) << out.Describe();
  EXPECT_EQ(ExitCodeOf(out.status), ExitCode::kCompression) << out.Describe();
  EXPECT_NE(out.status.message().find("no compressor replica left"), std::string::npos)
      << out.Describe();
  EXPECT_EQ(VisibleSnapshots(c.repo()), 0);
  RunResult verify = c.Verify();
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();
  EXPECT_TRUE(c.CheckAllServing().ok());
}

TEST(PipelineFailure, CancelledBackupCommitsNothingAndTheNextOneWorks) {
  const std::string src = MakeTextTree("src", 16, 1u << 20, 4);
  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster = PipelineCluster::Start(
      NewTempDir("repo") + "/repo",
      {.compressors = 2, .compressor_threads = 1, .chunker_args = {"--max-chunks-in-flight", "4"}});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;
  JobOutcome out = c.RunBackup(SlowPlan(c, src), [&](const v1::StageEvent& e) {
    return !(e.has_progress() && e.progress().bytes_done() > 0);  // cancel
  });
  EXPECT_EQ(out.status.code(), absl::StatusCode::kCancelled) << out.Describe();
  EXPECT_FALSE(out.result.has_value());
  // The chunker notices, cancels every downstream call and commits nothing.
  for (int i = 0; i < 100 && c.chunker().Stderr().find("cancelled") == std::string::npos; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_NE(c.chunker().Stderr().find("cancelled by the caller"), std::string::npos)
      << c.chunker().Stderr();
  EXPECT_EQ(VisibleSnapshots(c.repo()), 0);
  EXPECT_TRUE(c.CheckAllServing().ok());
  JobOutcome again = c.RunBackup(c.BackupPlan(src));
  ASSERT_TRUE(again.status.ok()) << again.Describe();
  EXPECT_EQ(VisibleSnapshots(c.repo()), 1);
  RunResult verify = c.Verify();
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();
}

TEST(PipelineFailure, PreBackupCommandsRunOnTheCollector) {
  const std::string src = MakeTextTree("src", 2, 1000, 5);
  // The plan names the commands; their command lines are the collector's.
  const std::string commands = NewTempDir("commands") + "/commands";
  std::ofstream(commands) << "# the node's commands\n"
                          << "hello=echo hello from the collector\n"
                          << "broken=exit 3\n";
  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster =
      PipelineCluster::Start(NewTempDir("repo") + "/repo",
                             {.compressors = 1, .collector_args = {"--commands-file=" + commands}});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;
  v1::BackupPlan plan = c.BackupPlan(src);
  plan.add_commands()->set_name("hello");
  v1::Command* failing = plan.add_commands();
  failing->set_name("broken");
  JobOutcome out = c.RunBackup(plan);
  ASSERT_TRUE(out.status.ok()) << out.Describe();
  ASSERT_TRUE(out.result.has_value());
  EXPECT_EQ(out.result->exit_code(), 3) << "a failed command means data is missing";
  ASSERT_EQ(out.warnings.size(), 1u) << out.Describe();
  EXPECT_EQ(out.warnings[0].path(), "commands/broken");
  RunResult cat = RunProgram(
      {ArcaBinary(), "cat", out.result->snapshot(), "--command", "hello", "--repo", c.repo()});
  EXPECT_EQ(cat.exit_code, 0) << cat.Describe();
  EXPECT_EQ(cat.out, "hello from the collector\n");

  // A critical command that fails stops the backup before anything is walked.
  failing->set_critical(true);
  JobOutcome stopped = c.RunBackup(plan);
  EXPECT_EQ(stopped.status.code(), absl::StatusCode::kFailedPrecondition) << stopped.Describe();
  EXPECT_EQ(PhaseOf(stopped.status), v1::PHASE_COLLECTION) << stopped.Describe();
  EXPECT_NE(stopped.status.message().find("critical command 'broken'"), std::string::npos)
      << stopped.Describe();
  EXPECT_EQ(VisibleSnapshots(c.repo()), 1);
}

void ExpectError(const JobOutcome& out, absl::StatusCode code, const std::string& fragment) {
  EXPECT_EQ(out.status.code(), code) << out.Describe();
  EXPECT_NE(out.status.message().find(fragment), std::string::npos) << out.Describe();
  EXPECT_FALSE(out.result.has_value());
}

TEST(PipelineFailure, BadInputGetsClearErrorsAndServicesStayUp) {
  const std::string src = MakeTextTree("src", 2, 1000, 6);
  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster =
      PipelineCluster::Start(NewTempDir("repo") + "/repo", {.compressors = 1});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;

  // --- Chunker.RunBackup -----------------------------------------------------------
  ExpectError(c.RunBackup(v1::BackupPlan()), absl::StatusCode::kInvalidArgument, "plan.source");
  v1::BackupPlan plan = c.BackupPlan(src);
  plan.clear_host();
  ExpectError(c.RunBackup(plan), absl::StatusCode::kInvalidArgument, "plan.host is empty");
  plan = c.BackupPlan(src);
  plan.clear_compressors();
  ExpectError(c.RunBackup(plan), absl::StatusCode::kInvalidArgument, "plan.compressors is empty");
  plan = c.BackupPlan(src);
  plan.clear_uploaders();
  ExpectError(c.RunBackup(plan), absl::StatusCode::kInvalidArgument, "plan.uploaders is empty");
  plan = c.BackupPlan(src);
  plan.add_excludes("[abc");
  ExpectError(c.RunBackup(plan), absl::StatusCode::kInvalidArgument, "[abc");
  plan = c.BackupPlan(src);
  plan.set_codec(static_cast<v1::Codec>(77));
  ExpectError(c.RunBackup(plan), absl::StatusCode::kInvalidArgument, "plan.codec 77");
  plan = c.BackupPlan(src);
  plan.add_commands()->set_name("bad name");
  ExpectError(c.RunBackup(plan), absl::StatusCode::kInvalidArgument, "bad name");
  plan = c.BackupPlan(src);
  plan.set_parent("no_such_group/20200101T000000.000000000Z");
  JobOutcome unknown_parent = c.RunBackup(plan);
  ExpectError(unknown_parent, absl::StatusCode::kNotFound, "plan.parent");
  EXPECT_EQ(PhaseOf(unknown_parent.status), v1::PHASE_SETUP);
  JobOutcome missing = c.RunBackup(c.BackupPlan(src + "/no/such/dir"));
  ExpectError(missing, absl::StatusCode::kNotFound, "no/such/dir");
  EXPECT_EQ(PhaseOf(missing.status), v1::PHASE_COLLECTION) << missing.Describe();
  plan = c.BackupPlan(src);
  plan.set_collector("127.0.0.1:1");
  JobOutcome no_collector = c.RunBackup(plan);
  EXPECT_EQ(no_collector.status.code(), absl::StatusCode::kUnavailable) << no_collector.Describe();
  EXPECT_EQ(PhaseOf(no_collector.status), v1::PHASE_COLLECTION) << no_collector.Describe();

  // --- Chunker.RunRestore ------------------------------------------------------------
  const std::string target = NewTempDir("t") + "/t";
  JobOutcome unknown =
      c.RunRestore(c.RestorePlan("no_such_group/20200101T000000.000000000Z", target));
  ExpectError(unknown, absl::StatusCode::kNotFound, "no_such_group");
  JobOutcome none_yet = c.RunRestore(c.RestorePlan("latest", target));
  EXPECT_EQ(none_yet.status.code(), absl::StatusCode::kNotFound) << none_yet.Describe();
  ExpectError(c.RunRestore(c.RestorePlan("latest", "relative/dir")),
              absl::StatusCode::kInvalidArgument, "plan.target 'relative/dir'");
  ExpectError(c.RunRestore(v1::RestorePlan()), absl::StatusCode::kInvalidArgument,
              "plan.snapshot is empty");
  EXPECT_FALSE(stdfs::exists(target));

  // --- Chunker.Chunk -------------------------------------------------------------------
  {
    auto stub = v1::Chunker::NewStub(Channel(c.chunker().address()));
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    auto stream = stub->Chunk(&ctx);
    stream->WritesDone();
    v1::ChunkOutput o;
    while (stream->Read(&o)) {
    }
    absl::Status st = rpc::FromGrpcStatus(stream->Finish());
    EXPECT_EQ(st.code(), absl::StatusCode::kUnimplemented) << st;
  }

  // --- Collector.Collect and Collector.WriteTree directly ---------------------------------
  auto collector = v1::Collector::NewStub(Channel(c.collector().address()));
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::CollectRequest req;
    req.set_source("relative/path");
    auto reader = collector->Collect(&ctx, req);
    v1::CollectEvent e;
    EXPECT_FALSE(reader->Read(&e));
    absl::Status st = rpc::FromGrpcStatus(reader->Finish());
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    EXPECT_NE(st.message().find("must be an absolute path"), std::string::npos) << st;
    EXPECT_EQ(PhaseOf(st), v1::PHASE_COLLECTION);
  }
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::WriteTreeResponse resp;
    auto writer = collector->WriteTree(&ctx, &resp);
    v1::WriteTreeRequest r;
    r.mutable_entry()->set_path("x");
    writer->Write(r);
    writer->WritesDone();
    absl::Status st = rpc::FromGrpcStatus(writer->Finish());
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    EXPECT_NE(st.message().find("first message must carry the RestoreTarget"), std::string::npos)
        << st;
  }
  const std::string base = NewTempDir("escape");
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::WriteTreeResponse resp;
    auto writer = collector->WriteTree(&ctx, &resp);
    v1::WriteTreeRequest r;
    r.mutable_target()->set_target(base + "/inside");
    writer->Write(r);
    r.Clear();
    r.mutable_entry()->set_type(v1::ENTRY_TYPE_DIRECTORY);
    r.mutable_entry()->set_mode(0755);
    writer->Write(r);
    r.Clear();
    v1::Entry* evil = r.mutable_entry();
    evil->set_path("../outside");
    evil->set_type(v1::ENTRY_TYPE_REGULAR);
    evil->set_size(4);
    evil->mutable_payload()->set_length(4);
    writer->Write(r);
    r.Clear();
    r.mutable_data()->set_data("evil");
    writer->Write(r);
    writer->WritesDone();
    absl::Status st = rpc::FromGrpcStatus(writer->Finish());
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    EXPECT_EQ(PhaseOf(st), v1::PHASE_RESTORE) << st;
    EXPECT_FALSE(stdfs::exists(base + "/outside"));
  }
  EXPECT_TRUE(c.CheckAllServing().ok());
  // And a real backup still works.
  JobOutcome good = c.RunBackup(c.BackupPlan(src));
  EXPECT_TRUE(good.status.ok()) << good.Describe();
}

}  // namespace
}  // namespace arca::distributed
