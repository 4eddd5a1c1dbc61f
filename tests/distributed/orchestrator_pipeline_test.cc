// The orchestrator over the whole distributed pipeline, driven through the
// CLI in remote mode (`arca --orchestrator=ADDR ...`): two uploader and two
// compressor replicas, a collector, a chunker and an orchestrator, all real
// processes on loopback. Backup → restore → compare → verify; a corrupted
// chunk → verify exit 8; a running backup cancelled → 130 and nothing
// committed; the collector, the only compressor or the chunker killed
// mid-job → 9 / 11 / 10;
// a dead chunker → phase archive, exit 10.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "arca/v1/orchestrator.grpc.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "libs/base/subprocess.h"
#include "libs/fs/testing/awkward_tree.h"
#include "libs/fs/testing/tree_compare.h"
#include "services/common/client_channel.h"
#include "tests/distributed/pipeline_cluster.h"

namespace arca::distributed {
namespace {

namespace stdfs = std::filesystem;

std::unique_ptr<v1::Orchestrator::Stub> Stub(const ServiceProcess& orchestrator) {
  services::ClientTlsFlags tls;
  tls.insecure = true;
  return v1::Orchestrator::NewStub(*services::MakeChannel(orchestrator.address(), tls));
}

// The ids of every job the orchestrator keeps, oldest first.
std::vector<std::string> JobIds(const ServiceProcess& orchestrator) {
  auto stub = Stub(orchestrator);
  grpc::ClientContext ctx;
  v1::ListJobsRequest req;
  req.set_page_size(500);
  v1::ListJobsResponse resp;
  grpc::Status s = stub->ListJobs(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  std::vector<std::string> out;
  for (const v1::Job& j : resp.jobs()) out.push_back(j.id());
  return out;
}

// The n-th (1-based) data line of `arca jobs` output ("" when absent).
std::string JobsLine(const std::string& out, size_t n) {
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  return n < lines.size() ? lines[n] : "";
}

// Flips one byte in the middle of the largest chunk file of `repo`.
std::string CorruptLargestChunk(const std::string& repo) {
  std::string largest;
  uintmax_t size = 0;
  for (const auto& e : stdfs::recursive_directory_iterator(repo + "/chunks")) {
    if (e.is_regular_file() && e.file_size() > size) {
      size = e.file_size();
      largest = e.path().string();
    }
  }
  if (largest.empty()) return "";
  int fd = open(largest.c_str(), O_RDWR);
  if (fd < 0) return "";
  char b = 0;
  const off_t at = static_cast<off_t>(size / 2);
  if (pread(fd, &b, 1, at) != 1) return "";
  b = static_cast<char>(b ^ 0x5a);
  if (pwrite(fd, &b, 1, at) != 1) return "";
  close(fd);
  return largest;
}

TEST(OrchestratorPipeline, BackupRestoreVerifyThroughTheCliThenACorruptChunkExits8) {
  const std::string src = NewTempDir("awkward");
  testing::AwkwardTreeOptions tree;
  tree.large_file_bytes = 4u << 20;
  tree.small_files = 50;
  absl::Status made = testing::MakeAwkwardTree(src, tree);
  ASSERT_TRUE(made.ok()) << made;

  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster =
      PipelineCluster::Start(NewTempDir("repo") + "/repo", {.uploaders = 2, .compressors = 2});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;
  std::unique_ptr<ServiceProcess> orch = StartOrchestrator(c, 2, 2);
  ASSERT_NE(orch, nullptr);

  RunResult backup = Remote(*orch, {"backup", src});
  ASSERT_EQ(backup.exit_code, 0) << backup.Describe() << orch->Stderr() << c.chunker().Stderr();
  const std::string id(absl::StripAsciiWhitespace(backup.out));
  ASSERT_FALSE(id.empty());
  EXPECT_NE(backup.err.find("backup job job-"), std::string::npos) << backup.err;
  EXPECT_NE(backup.err.find(" started"), std::string::npos) << backup.err;
  EXPECT_EQ(id.rfind("testhost", 0), 0u) << "group from the orchestrator's --host: " << id;

  RunResult snapshots = Remote(*orch, {"snapshots"});
  EXPECT_EQ(snapshots.exit_code, 0) << snapshots.Describe();
  EXPECT_NE(snapshots.out.find(id), std::string::npos) << snapshots.out;

  const std::string target = NewTempDir("restored") + "/tree";
  RunResult restore = Remote(*orch, {"restore", id, target});
  ASSERT_EQ(restore.exit_code, 0) << restore.Describe() << c.collector().Stderr();
  EXPECT_NE(restore.err.find("restored "), std::string::npos) << restore.err;
  std::vector<std::string> diffs = testing::CompareTrees(src, target);
  EXPECT_TRUE(diffs.empty()) << absl::StrJoin(diffs, "\n");

  RunResult verify = Remote(*orch, {"verify", "--json"});
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();
  EXPECT_NE(verify.out.find("\"state\":\"JOB_STATE_SUCCEEDED\""), std::string::npos) << verify.out;

  RunResult jobs = Remote(*orch, {"jobs"});
  EXPECT_EQ(jobs.exit_code, 0) << jobs.Describe();
  const std::string third = JobsLine(jobs.out, 3);
  EXPECT_NE(third.find(" verify "), std::string::npos) << jobs.out;
  EXPECT_NE(third.find(" succeeded "), std::string::npos) << jobs.out;

  // One corrupt chunk: the verify job (run by the uploader) finds it.
  ASSERT_FALSE(CorruptLargestChunk(c.repo()).empty());
  RunResult bad = Remote(*orch, {"verify"});
  EXPECT_EQ(bad.exit_code, 8) << bad.Describe();
  EXPECT_NE(bad.err.find("corrupt: "), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("failed in phase verification"), std::string::npos) << bad.err;
  // `watch` of the ended job gives the same code.
  const std::vector<std::string> ids = JobIds(*orch);
  ASSERT_EQ(ids.size(), 4u);
  // A short id (a unique prefix) is enough.
  RunResult watch = Remote(*orch, {"watch", ids[3].substr(0, 4 + 20)});
  EXPECT_EQ(watch.exit_code, 8) << watch.Describe();
  // The embedded verify agrees.
  EXPECT_EQ(c.Verify().exit_code, 8);
  // A restore that meets the corrupt chunk: exit 8, as in embedded mode.
  RunResult corrupt_restore =
      Remote(*orch, {"restore", id, NewTempDir("restored-corrupt") + "/tree"});
  EXPECT_EQ(corrupt_restore.exit_code, 8) << corrupt_restore.Describe();
  EXPECT_NE(corrupt_restore.err.find("failed in phase restore"), std::string::npos)
      << corrupt_restore.err;
  EXPECT_TRUE(c.CheckAllServing().ok());
}

// `files` files of `bytes` random lowercase text: slow under xz -6.
std::string MakeTextTree(const std::string& name, int files, size_t bytes) {
  const std::string root = NewTempDir(name);
  std::mt19937 rng(7);
  for (int i = 0; i < files; ++i) {
    std::string data(bytes, '\0');
    for (char& ch : data) ch = static_cast<char>('a' + rng() % 26);
    std::ofstream(absl::StrCat(root, "/f", i, ".txt"), std::ios::binary) << data;
  }
  return root;
}

TEST(OrchestratorPipeline, CancelledBackupEndsWith130AndCommitsNothing) {
  const std::string src = MakeTextTree("text", 24, 1u << 20);
  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster = PipelineCluster::Start(
      NewTempDir("repo") + "/repo",
      {.compressors = 2, .compressor_threads = 1, .chunker_args = {"--max-chunks-in-flight", "4"}});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;
  std::unique_ptr<ServiceProcess> orch = StartOrchestrator(c, 1, 2);
  ASSERT_NE(orch, nullptr);

  RunResult started =
      Remote(*orch, {"backup", src, "--compression", "xz", "--level", "6", "--detach"});
  ASSERT_EQ(started.exit_code, 0) << started.Describe();
  const std::string id(absl::StripAsciiWhitespace(started.out));
  ASSERT_EQ(id.rfind("job-", 0), 0u) << id;

  // Wait until data flows, then cancel through the CLI.
  auto stub = Stub(*orch);
  v1::Job job;
  for (int i = 0; i < 200; ++i) {
    grpc::ClientContext ctx;
    v1::GetJobRequest req;
    req.set_id(id);
    ASSERT_TRUE(stub->GetJob(&ctx, req, &job).ok());
    if (job.progress().bytes_done() > 0 || job.end_unix_ns() != 0) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_EQ(job.state(), v1::JOB_STATE_RUNNING) << job.ShortDebugString();
  RunResult cancel = Remote(*orch, {"cancel", id});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.Describe();
  RunResult watch = Remote(*orch, {"watch", id});
  EXPECT_EQ(watch.exit_code, 130) << watch.Describe() << orch->Stderr();
  EXPECT_NE(watch.err.find("cancelled"), std::string::npos) << watch.err;
  {
    grpc::ClientContext ctx;
    v1::GetJobRequest req;
    req.set_id(id);
    ASSERT_TRUE(stub->GetJob(&ctx, req, &job).ok());
  }
  EXPECT_EQ(job.state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(job.status().exit_code(), 130);
  EXPECT_EQ(job.status().grpc_code(), 1);
  // A second cancel is not an error (a retried cancel must not fail): the
  // job has ended and stays as it is.
  RunResult again = Remote(*orch, {"cancel", id});
  EXPECT_EQ(again.exit_code, 0) << again.Describe();
  EXPECT_NE(again.err.find("has already ended"), std::string::npos) << again.err;

  EXPECT_EQ(VisibleSnapshots(c.repo()), 0);
  EXPECT_TRUE(c.CheckAllServing().ok());
  EXPECT_EQ(c.Verify().exit_code, 0);

  // Ctrl-C on a following `arca backup`: the CLI cancels its job, exit 130.
  const std::string arca = ArcaBinary();
  const std::string flag = "--orchestrator=" + orch->address();
  SubprocessOptions cli;
  cli.argv = {arca, flag, "--insecure", "backup", src, "--compression", "xz", "--level", "6"};
  cli.stdout_output = SubprocessOutput::Null();
  cli.stderr_output = SubprocessOutput::Null();
  absl::StatusOr<std::unique_ptr<Subprocess>> backup = Subprocess::Start(cli);
  ASSERT_TRUE(backup.ok()) << backup.status();
  std::string second_id;
  for (int i = 0; i < 200; ++i) {
    if (second_id.empty()) {
      std::vector<std::string> ids = JobIds(*orch);
      if (ids.size() == 2) second_id = ids[1];
    }
    grpc::ClientContext ctx;
    v1::GetJobRequest req;
    req.set_id(second_id.empty() ? id : second_id);
    if (!second_id.empty() && stub->GetJob(&ctx, req, &job).ok() &&
        (job.progress().bytes_done() > 0 || job.end_unix_ns() != 0)) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(job.state(), v1::JOB_STATE_RUNNING) << job.ShortDebugString();
  ASSERT_TRUE((*backup)->Signal(SIGINT).ok());
  absl::StatusOr<SubprocessResult> ended = (*backup)->Wait(absl::Seconds(30));
  if (!ended.ok()) {
    ADD_FAILURE() << "arca did not end after SIGINT: " << ended.status();
    ended = (*backup)->Terminate(absl::ZeroDuration());
  }
  ASSERT_TRUE(ended.ok()) << ended.status();
  ASSERT_EQ(ended->term_signal, 0);
  EXPECT_EQ(ended->exit_code, 130);
  {
    grpc::ClientContext ctx;
    v1::GetJobRequest req;
    req.set_id(second_id);
    ASSERT_TRUE(stub->GetJob(&ctx, req, &job).ok());
  }
  EXPECT_EQ(job.state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(VisibleSnapshots(c.repo()), 0);

  // A rerun after the cancellations succeeds, and writes only the chunks
  // the cancelled runs had not stored (each chunk file is written once).
  const int chunks_before = ChunkFiles(c.repo());
  RunResult rerun = Remote(*orch, {"backup", src, "--json"});
  EXPECT_EQ(rerun.exit_code, 0) << rerun.Describe();
  EXPECT_EQ(VisibleSnapshots(c.repo()), 1);
  google::protobuf::Struct rerun_job;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(rerun.out, &rerun_job).ok()) << rerun.out;
  const google::protobuf::Value& new_chunks =
      rerun_job.fields().at("stats").struct_value().fields().at("chunks_new");
  const double chunks_new = new_chunks.has_string_value() ? std::stod(new_chunks.string_value())
                                                          : new_chunks.number_value();
  EXPECT_EQ(ChunkFiles(c.repo()) - chunks_before, chunks_new) << rerun.out;
  EXPECT_EQ(c.Verify().exit_code, 0);
}

// Starts a slow backup with --detach and waits until data flows; the job id.
std::string StartSlowBackup(const ServiceProcess& orch, const std::string& src) {
  RunResult started =
      Remote(orch, {"backup", src, "--compression", "xz", "--level", "6", "--detach"});
  EXPECT_EQ(started.exit_code, 0) << started.Describe();
  const std::string id(absl::StripAsciiWhitespace(started.out));
  auto stub = Stub(orch);
  v1::Job job;
  for (int i = 0; i < 200; ++i) {
    grpc::ClientContext ctx;
    v1::GetJobRequest req;
    req.set_id(id);
    EXPECT_TRUE(stub->GetJob(&ctx, req, &job).ok());
    if (job.progress().bytes_done() > 0 || job.end_unix_ns() != 0) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(job.state(), v1::JOB_STATE_RUNNING) << job.ShortDebugString();
  return id;
}

TEST(OrchestratorPipeline, KilledCollectorOnlyCompressorOrChunkerGiveExit9And11And10) {
  const std::string src = MakeTextTree("text", 24, 1u << 20);
  struct Case {
    const char* victim;
    ServiceProcess& (*pick)(PipelineCluster&);
    int compressors;
    int exit_code;
    const char* phase;
  };
  // The chunker itself dying mid-job is UNAVAILABLE without a phase → archive, 10.
  for (const Case& k :
       {Case{"collector", [](PipelineCluster& c) -> ServiceProcess& { return c.collector(); }, 2, 9,
             "collection"},
        Case{"the only compressor",
             [](PipelineCluster& c) -> ServiceProcess& { return c.compressor(0); }, 1, 11,
             "compression"},
        Case{"chunker", [](PipelineCluster& c) -> ServiceProcess& { return c.chunker(); }, 2, 10,
             "archive"}}) {
    SCOPED_TRACE(k.victim);
    absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster = PipelineCluster::Start(
        NewTempDir("repo") + "/repo", {.compressors = k.compressors,
                                       .compressor_threads = 1,
                                       .chunker_args = {"--max-chunks-in-flight", "4"}});
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    PipelineCluster& c = **cluster;
    std::unique_ptr<ServiceProcess> orch = StartOrchestrator(c, 1, k.compressors);
    ASSERT_NE(orch, nullptr);
    const std::string id = StartSlowBackup(*orch, src);
    k.pick(c).Signal(SIGKILL);
    RunResult watch = Remote(*orch, {"watch", id});
    EXPECT_EQ(watch.exit_code, k.exit_code) << watch.Describe() << c.chunker().Stderr();
    EXPECT_NE(watch.err.find(absl::StrCat("failed in phase ", k.phase)), std::string::npos)
        << watch.err;
    EXPECT_EQ(VisibleSnapshots(c.repo()), 0);
    EXPECT_EQ(c.Verify().exit_code, 0);
  }
}

TEST(OrchestratorPipeline, DeadChunkerFailsTheBackupInPhaseArchiveWithExit10) {
  const std::string src = MakeTextTree("small", 2, 1000);
  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster =
      PipelineCluster::Start(NewTempDir("repo") + "/repo", {.compressors = 2});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;
  // The chunker's address, but the chunker is gone.
  const std::string chunker = c.chunker().address();
  c.chunker().Stop();
  std::unique_ptr<ServiceProcess> orch = StartOrchestrator(c, 1, 2, chunker);
  ASSERT_NE(orch, nullptr);
  RunResult backup = Remote(*orch, {"backup", src});
  EXPECT_EQ(backup.exit_code, 10) << backup.Describe();
  EXPECT_NE(backup.err.find("failed in phase archive"), std::string::npos) << backup.err;
  RunResult jobs = Remote(*orch, {"jobs", "--json"});
  EXPECT_EQ(jobs.exit_code, 0);
  EXPECT_NE(jobs.out.find("\"failed_phase\":\"PHASE_ARCHIVE\""), std::string::npos) << jobs.out;
  EXPECT_NE(jobs.out.find("\"grpc_code\":14"), std::string::npos) << jobs.out;
  EXPECT_EQ(VisibleSnapshots(c.repo()), 0);
}

// "127.0.0.1:PORT" where nothing listens (a port the kernel just handed out
// and that was closed again): connecting is refused.
std::string DeadAddress() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  close(fd);
  return "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
}

TEST(OrchestratorPipeline, UnreachableChunkerOrUploaderReplicaIsSkipped) {
  const std::string src = MakeTextTree("replicas", 2, 1000);
  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster =
      PipelineCluster::Start(NewTempDir("repo") + "/repo", {.compressors = 1});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;
  const std::string dead = DeadAddress();
  // Round robin starts with the dead chunker: the first job moves on to the
  // live one, the second goes there directly. Both succeed.
  std::unique_ptr<ServiceProcess> orch =
      StartOrchestrator(c, 1, 1, dead + "," + c.chunker().address());
  ASSERT_NE(orch, nullptr);
  for (int i = 0; i < 2; ++i) {
    RunResult backup = Remote(*orch, {"backup", src});
    EXPECT_EQ(backup.exit_code, 0) << backup.Describe() << orch->Stderr();
  }
  EXPECT_NE(orch->Stderr().find("trying chunker " + c.chunker().address()), std::string::npos)
      << orch->Stderr();
  EXPECT_EQ(VisibleSnapshots(c.repo()), 2);

  // Every chunker unreachable: exit 10, naming them.
  const std::string dead2 = DeadAddress();
  std::unique_ptr<ServiceProcess> none = StartOrchestrator(c, 1, 1, dead + "," + dead2);
  ASSERT_NE(none, nullptr);
  RunResult failed = Remote(*none, {"backup", src});
  EXPECT_EQ(failed.exit_code, 10) << failed.Describe();
  EXPECT_NE(failed.err.find("no chunker replica is reachable (" + dead), std::string::npos)
      << failed.err;

  // Verify with a dead uploader listed first: it runs on the live one.
  absl::StatusOr<std::unique_ptr<ServiceProcess>> verifier =
      ServiceProcess::Start(Runfile("services/orchestrator/orchestrator"),
                            {"--insecure", "--uploader=" + dead + "," + c.uploader(0).address()});
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  for (int i = 0; i < 2; ++i) {
    RunResult verify = Remote(**verifier, {"verify"});
    EXPECT_EQ(verify.exit_code, 0) << verify.Describe() << (*verifier)->Stderr();
  }
  EXPECT_NE((*verifier)->Stderr().find("trying uploader " + c.uploader(0).address()),
            std::string::npos)
      << (*verifier)->Stderr();
}

TEST(OrchestratorPipeline, BackupAndRestoreRunOnTheCollectorTheyName) {
  const std::string src = MakeTextTree("pinned", 2, 1000);
  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster =
      PipelineCluster::Start(NewTempDir("repo") + "/repo", {.compressors = 1});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;
  // Two collectors; round robin would send the first job to the dead one.
  const std::string dead = DeadAddress();
  const std::string live = c.collector().address();
  absl::StatusOr<std::unique_ptr<ServiceProcess>> orch = ServiceProcess::Start(
      Runfile("services/orchestrator/orchestrator"),
      {"--insecure", "--host=testhost", "--collector=" + dead + "," + live,
       "--chunker=" + c.chunker().address(), "--compressor=" + c.compressor(0).address(),
       "--uploader=" + c.uploader(0).address()});
  ASSERT_TRUE(orch.ok()) << orch.status();
  for (int i = 0; i < 2; ++i) {
    RunResult backup = Remote(**orch, {"backup", src, "--collector", live});
    EXPECT_EQ(backup.exit_code, 0) << backup.Describe();
  }
  const std::string target = NewTempDir("pinned-restore") + "/t";
  RunResult restore = Remote(**orch, {"restore", "latest", target, "--collector", live});
  EXPECT_EQ(restore.exit_code, 0) << restore.Describe();
  EXPECT_TRUE(stdfs::exists(target + "/f0.txt")) << target;

  // A collector the orchestrator does not know: refused (exit 2), no job.
  RunResult unknown = Remote(**orch, {"backup", src, "--collector", "elsewhere:1"});
  EXPECT_EQ(unknown.exit_code, 2) << unknown.Describe();
  EXPECT_NE(unknown.err.find("is not one of this orchestrator's --collector addresses"),
            std::string::npos)
      << unknown.err;
  EXPECT_EQ(JobIds(**orch).size(), 3u) << "the refused backup created no job";

  // Unpinned, round robin reaches the dead collector: exit 9.
  RunResult first = Remote(**orch, {"backup", src});
  RunResult second = Remote(**orch, {"backup", src});
  EXPECT_EQ(std::min(first.exit_code, second.exit_code), 0)
      << first.Describe() << second.Describe();
  EXPECT_EQ(std::max(first.exit_code, second.exit_code), 9)
      << first.Describe() << second.Describe();
}

TEST(OrchestratorPipeline, StateDirKeepsJobsAcrossARestartAndMarksTheInterruptedOne) {
  const std::string small = MakeTextTree("state-small", 2, 1000);
  const std::string big = MakeTextTree("state-big", 24, 1u << 20);
  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster = PipelineCluster::Start(
      NewTempDir("repo") + "/repo",
      {.compressors = 1, .compressor_threads = 1, .chunker_args = {"--max-chunks-in-flight", "4"}});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;
  const std::string state = NewTempDir("orchestrator-state");
  auto start = [&] { return StartOrchestrator(c, 1, 1, "", {"--state-dir=" + state}); };
  std::unique_ptr<ServiceProcess> orch = start();
  ASSERT_NE(orch, nullptr);
  RunResult first = Remote(*orch, {"backup", small});
  ASSERT_EQ(first.exit_code, 0) << first.Describe();
  // A slow job running when the orchestrator is killed: the chunker's call
  // is cut, so it commits nothing.
  const std::string running = StartSlowBackup(*orch, big);
  const std::vector<std::string> before = JobIds(*orch);
  ASSERT_EQ(before.size(), 2u);
  ASSERT_EQ(running, before[1]);
  orch->Signal(SIGKILL);
  orch.reset();

  orch = start();
  ASSERT_NE(orch, nullptr);
  RunResult jobs = Remote(*orch, {"jobs", "--json"});
  ASSERT_EQ(jobs.exit_code, 0) << jobs.Describe();
  google::protobuf::Value listed;  // a JSON array of jobs
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(jobs.out, &listed).ok()) << jobs.out;
  const auto& list = listed.list_value().values();
  ASSERT_EQ(list.size(), 2) << jobs.out;
  const auto& j1 = list[0].struct_value().fields();
  const auto& j2 = list[1].struct_value().fields();
  EXPECT_EQ(j1.at("id").string_value(), before[0]);
  EXPECT_EQ(j1.at("state").string_value(), "JOB_STATE_SUCCEEDED") << jobs.out;
  EXPECT_EQ(j2.at("id").string_value(), before[1]);
  EXPECT_EQ(j2.at("state").string_value(), "JOB_STATE_FAILED") << jobs.out;
  EXPECT_NE(jobs.out.find("interrupted: the orchestrator stopped while this job ran"),
            std::string::npos)
      << jobs.out;
  RunResult watch = Remote(*orch, {"watch", before[0]});
  EXPECT_EQ(watch.exit_code, 0) << watch.Describe();
  // New jobs get new ids that sort after the old ones; the killed job left
  // no snapshot.
  RunResult next = Remote(*orch, {"backup", small, "--json"});
  EXPECT_EQ(next.exit_code, 0) << next.Describe();
  const std::vector<std::string> after = JobIds(*orch);
  ASSERT_EQ(after.size(), 3u);
  EXPECT_GT(after[2], before[1]);
  EXPECT_EQ(VisibleSnapshots(c.repo()), 2);
  EXPECT_EQ(c.Verify().exit_code, 0);
}

// SIGTERM while a job runs: the job ends FAILED as interrupted by the
// shutdown (not "cancelled (CancelJob)"), a watcher gets that final job
// before its stream ends OK, and the orchestrator exits 0.
TEST(OrchestratorPipeline, SigtermEndsTheRunningJobHonestlyAndTheWatcherGetsItsEnd) {
  const std::string big = MakeTextTree("sigterm-big", 24, 1u << 20);
  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster = PipelineCluster::Start(
      NewTempDir("repo") + "/repo",
      {.compressors = 1, .compressor_threads = 1, .chunker_args = {"--max-chunks-in-flight", "4"}});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;
  std::unique_ptr<ServiceProcess> orch = StartOrchestrator(c, 1, 1, "", {"--drain-seconds=30"});
  ASSERT_NE(orch, nullptr);
  const std::string id = StartSlowBackup(*orch, big);
  auto stub = Stub(*orch);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
  v1::WatchJobRequest req;
  req.set_id(id);
  std::unique_ptr<grpc::ClientReader<v1::JobEvent>> watch = stub->WatchJob(&ctx, req);
  v1::JobEvent e;
  ASSERT_TRUE(watch->Read(&e)) << "the watch is open";
  orch->Signal(SIGTERM);
  std::optional<v1::Job> final_job;
  while (watch->Read(&e)) {
    if (e.has_final()) final_job = e.final();
  }
  grpc::Status end = watch->Finish();
  EXPECT_TRUE(end.ok()) << end.error_message();
  ASSERT_TRUE(final_job.has_value()) << orch->Stderr();
  EXPECT_EQ(final_job->state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(final_job->status().exit_code(), 1);
  EXPECT_EQ(final_job->status().grpc_code(), 14);
  EXPECT_NE(final_job->status().message().find("the orchestrator shut down"), std::string::npos)
      << final_job->status().message();
  EXPECT_EQ(orch->WaitExit(absl::Seconds(60)), 0) << orch->Stderr();
  EXPECT_EQ(VisibleSnapshots(c.repo()), 0);
  EXPECT_EQ(c.Verify().exit_code, 0);
}

TEST(OrchestratorPipeline, UnwritableRepositoryFailsInPhaseUploadWithExit12) {
  const std::string src = MakeTextTree("unwritable", 2, 1000);
  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster =
      PipelineCluster::Start(NewTempDir("repo") + "/repo", {.compressors = 1});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;
  std::unique_ptr<ServiceProcess> orch = StartOrchestrator(c, 1, 1);
  ASSERT_NE(orch, nullptr);
  // Root ignores permission bits: make the chunk directory a plain file, so
  // every new chunk directory the uploader creates fails (ENOTDIR).
  stdfs::remove_all(c.repo() + "/chunks");
  {
    std::ofstream f(c.repo() + "/chunks");
    f << "not a directory";
  }
  RunResult backup = Remote(*orch, {"backup", src});
  EXPECT_EQ(backup.exit_code, 12) << backup.Describe();
  RunResult jobs = Remote(*orch, {"jobs", "--json"});
  EXPECT_EQ(jobs.exit_code, 0);
  EXPECT_NE(jobs.out.find("PHASE_UPLOAD"), std::string::npos) << jobs.out;
  EXPECT_EQ(VisibleSnapshots(c.repo()), 0);
}

TEST(OrchestratorPipeline, RemoteBackupShowsJsonProgressLinesEndingAtTheJobsCounts) {
  const std::string src = NewTempDir("progress_src");
  testing::AwkwardTreeOptions tree;
  tree.large_file_bytes = 6u << 20;
  tree.small_files = 30;
  absl::Status made = testing::MakeAwkwardTree(src, tree);
  ASSERT_TRUE(made.ok()) << made;
  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster =
      PipelineCluster::Start(NewTempDir("repo") + "/repo", {.uploaders = 1, .compressors = 1});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  std::unique_ptr<ServiceProcess> orch = StartOrchestrator(**cluster, 1, 1);
  ASSERT_NE(orch, nullptr);

  // Not a terminal and no --progress: nothing but the summary on stderr.
  RunResult quiet = Remote(*orch, {"backup", src, "--json"});
  ASSERT_EQ(quiet.exit_code, 0) << quiet.Describe();
  EXPECT_EQ(quiet.err.find("\"type\":\"progress\""), std::string::npos) << quiet.err;

  RunResult r = Remote(*orch, {"backup", src, "--json", "--progress"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  // stdout: still exactly one JSON document, the final job.
  google::protobuf::Struct job;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &job).ok()) << r.out;
  const google::protobuf::Struct& stats = job.fields().at("stats").struct_value();
  auto number = [](const google::protobuf::Value& v) {
    return v.has_string_value() ? std::stod(v.string_value()) : v.number_value();
  };
  // stderr: JSON progress lines, bytes never decreasing, the last one done
  // with the job's final counts.
  std::vector<std::string> lines = absl::StrSplit(r.err, '\n', absl::SkipEmpty());
  std::vector<google::protobuf::Struct> progress;
  for (const std::string& l : lines) {
    google::protobuf::Struct j;
    if (!google::protobuf::util::JsonStringToMessage(l, &j).ok()) continue;
    if (j.fields().count("type") && j.fields().at("type").string_value() == "progress") {
      progress.push_back(j);
    }
  }
  ASSERT_FALSE(progress.empty()) << r.err;
  double last_bytes = 0;
  for (const auto& p : progress) {
    EXPECT_EQ(p.fields().at("command").string_value(), "backup");
    EXPECT_GE(p.fields().at("bytes").number_value(), last_bytes);
    last_bytes = p.fields().at("bytes").number_value();
  }
  const google::protobuf::Struct& last = progress.back();
  EXPECT_TRUE(last.fields().at("done").bool_value()) << lines.back();
  EXPECT_EQ(last.fields().at("files").number_value(), number(stats.fields().at("files")));
  EXPECT_EQ(last.fields().at("bytes").number_value(), number(stats.fields().at("bytes_collected")));
}

}  // namespace
}  // namespace arca::distributed
