// The orchestrator's API as a real process over a real uploader (no chunker
// needed): verify jobs on a repository made by the embedded `arca backup`
// (a corrupt chunk → job FAILED, exit 8, and the CLI exits 8), bad input to
// every RPC, the bearer token, and TLS with required client certificates.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "arca/v1/orchestrator.grpc.pb.h"
#include "arca/v1/uploader.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "services/common/client_channel.h"
#include "tests/distributed/service_process.h"

namespace arca::distributed {
namespace {

namespace stdfs = std::filesystem;

std::string Arca() { return Runfile("tools/arca/arca"); }

// A repository with one snapshot of a few files, made by the embedded CLI.
std::string MakeRepository() {
  const std::string repo = NewTempDir("repo") + "/repo";
  const std::string src = NewTempDir("src");
  for (int i = 0; i < 5; ++i) {
    std::ofstream(absl::StrCat(src, "/f", i))
        << std::string(100000 + i, static_cast<char>('a' + i));
  }
  EXPECT_EQ(RunProgram({Arca(), "init", "--repo", repo}).exit_code, 0);
  RunResult b = RunProgram({Arca(), "backup", src, "--repo", repo, "--host", "h"});
  EXPECT_EQ(b.exit_code, 0) << b.Describe();
  return repo;
}

std::unique_ptr<ServiceProcess> Start(const std::string& name, std::vector<std::string> args) {
  absl::StatusOr<std::unique_ptr<ServiceProcess>> p =
      ServiceProcess::Start(Runfile("services/" + name + "/" + name), std::move(args));
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : nullptr;
}

std::shared_ptr<grpc::Channel> Insecure(const std::string& address) {
  services::ClientTlsFlags tls;
  tls.insecure = true;
  return *services::MakeChannel(address, tls);
}

class OrchestratorApi : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = MakeRepository();
    uploader_ = Start("uploader", {"--repo", repo_, "--insecure"});
    ASSERT_NE(uploader_, nullptr);
  }

  std::unique_ptr<ServiceProcess> Orchestrator(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--uploader=" + uploader_->address()};
    bool tls = false;
    for (const std::string& a : extra) tls |= a.rfind("--tls-cert", 0) == 0;
    if (!tls) args.push_back("--insecure");
    args.insert(args.end(), extra.begin(), extra.end());
    return Start("orchestrator", args);
  }

  v1::Job WaitJob(v1::Orchestrator::Stub& stub, const std::string& id) {
    v1::Job job;
    for (int i = 0; i < 600; ++i) {
      grpc::ClientContext ctx;
      v1::GetJobRequest req;
      req.set_id(id);
      EXPECT_TRUE(stub.GetJob(&ctx, req, &job).ok());
      if (job.end_unix_ns() != 0) break;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return job;
  }

  std::string repo_;
  std::unique_ptr<ServiceProcess> uploader_;
};

TEST_F(OrchestratorApi, VerifyJobRunsOnTheUploaderAndACorruptChunkEndsWithExit8) {
  auto orch = Orchestrator();
  ASSERT_NE(orch, nullptr);
  const std::vector<std::string> cli = {Arca(), "--orchestrator=" + orch->address(), "--insecure"};
  auto run = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = cli;
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProgram(argv, absl::Seconds(60));
  };
  RunResult ok = run({"verify"});
  EXPECT_EQ(ok.exit_code, 0) << ok.Describe();
  EXPECT_NE(ok.err.find("verified 1 snapshot(s)"), std::string::npos) << ok.err;
  RunResult unknown = run({"verify", "h_nothing/20200101T000000Z"});
  EXPECT_EQ(unknown.exit_code, 2) << unknown.Describe();

  // Flip a byte of every chunk file.
  int corrupted = 0;
  for (const auto& e : stdfs::recursive_directory_iterator(repo_ + "/chunks")) {
    if (!e.is_regular_file() || e.file_size() < 64) continue;
    int fd = open(e.path().c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    char b = 0;
    ASSERT_EQ(pread(fd, &b, 1, 40), 1);
    b ^= 1;
    ASSERT_EQ(pwrite(fd, &b, 1, 40), 1);
    close(fd);
    ++corrupted;
  }
  ASSERT_GT(corrupted, 0);
  RunResult bad = run({"verify"});
  EXPECT_EQ(bad.exit_code, 8) << bad.Describe();
  EXPECT_NE(bad.err.find("corrupt: "), std::string::npos) << bad.err;

  auto stub = v1::Orchestrator::NewStub(Insecure(orch->address()));
  grpc::ClientContext ctx;
  v1::StartVerifyRequest req;
  v1::Job started;
  ASSERT_TRUE(stub->StartVerify(&ctx, req, &started).ok());
  v1::Job job = WaitJob(*stub, started.id());
  EXPECT_EQ(job.state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(job.status().failed_phase(), v1::PHASE_VERIFICATION);
  EXPECT_EQ(job.status().exit_code(), 8);
  EXPECT_EQ(job.status().grpc_code(), static_cast<int>(grpc::StatusCode::DATA_LOSS));
  EXPECT_NE(job.status().message().find("verification failed"), std::string::npos);
  EXPECT_EQ(job.verify().exit_code(), 8);
  EXPECT_GT(job.verify().problems_size(), 0);
  EXPECT_EQ(job.warnings_size(), job.verify().problems_size());
}

TEST_F(OrchestratorApi, BadInputToEveryRpcGetsClearErrorsAndTheServiceStaysUp) {
  auto orch = Orchestrator();
  ASSERT_NE(orch, nullptr);
  auto stub = v1::Orchestrator::NewStub(Insecure(orch->address()));
  auto expect = [](const grpc::Status& s, grpc::StatusCode code, const std::string& fragment) {
    EXPECT_EQ(s.error_code(), code) << s.error_message();
    EXPECT_NE(s.error_message().find(fragment), std::string::npos) << s.error_message();
  };
  v1::Job job;
  {
    grpc::ClientContext ctx;
    expect(stub->StartBackup(&ctx, v1::StartBackupRequest(), &job),
           grpc::StatusCode::INVALID_ARGUMENT, "source is empty");
  }
  // Bytes that are no protobuf message at all (an unterminated varint):
  // INVALID_ARGUMENT naming the method, not gRPC's empty INTERNAL.
  for (const char* method : {"/arca.v1.Orchestrator/StartBackup", "/arca.v1.Orchestrator/GetJob",
                             "/arca.v1.Orchestrator/ListJobs"}) {
    grpc::GenericStub generic(Insecure(orch->address()));
    grpc::Slice slice(std::string("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 12));
    grpc::ByteBuffer request(&slice, 1), response;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    absl::Notification done;
    grpc::Status status;
    generic.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
      status = s;
      done.Notify();
    });
    done.WaitForNotification();
    expect(status, grpc::StatusCode::INVALID_ARGUMENT,
           std::string("the request to ") + method + " is not a valid protobuf message");
  }
  {
    grpc::ClientContext ctx;
    v1::StartBackupRequest r;
    r.set_source("/data");
    r.set_level(-5);
    expect(stub->StartBackup(&ctx, r, &job), grpc::StatusCode::INVALID_ARGUMENT,
           "level -5 is negative");
  }
  {
    grpc::ClientContext ctx;
    v1::StartBackupRequest r;
    r.set_source("/data");
    r.set_codec(static_cast<v1::Codec>(1000));
    expect(stub->StartBackup(&ctx, r, &job), grpc::StatusCode::INVALID_ARGUMENT,
           "codec 1000 is unknown");
  }
  {
    // Valid, but this orchestrator has no chunker.
    grpc::ClientContext ctx;
    v1::StartBackupRequest r;
    r.set_source("/data");
    expect(stub->StartBackup(&ctx, r, &job), grpc::StatusCode::FAILED_PRECONDITION, "--chunker");
  }
  {
    grpc::ClientContext ctx;
    v1::StartRestoreRequest r;
    r.set_target("/t");
    expect(stub->StartRestore(&ctx, r, &job), grpc::StatusCode::INVALID_ARGUMENT,
           "snapshot is empty");
  }
  {
    grpc::ClientContext ctx;
    v1::StartRestoreRequest r;
    r.set_snapshot("latest");
    expect(stub->StartRestore(&ctx, r, &job), grpc::StatusCode::INVALID_ARGUMENT,
           "target is empty");
  }
  {
    grpc::ClientContext ctx;
    v1::StartVerifyRequest r;
    r.set_workers(1 << 30);
    expect(stub->StartVerify(&ctx, r, &job), grpc::StatusCode::INVALID_ARGUMENT,
           "workers 1073741824 is out of range");
  }
  {
    grpc::ClientContext ctx;
    v1::StartVerifyRequest r;
    r.set_snapshot(std::string(1 << 20, 'x'));
    expect(stub->StartVerify(&ctx, r, &job), grpc::StatusCode::INVALID_ARGUMENT, "too long");
  }
  {
    grpc::ClientContext ctx;
    expect(stub->GetJob(&ctx, v1::GetJobRequest(), &job), grpc::StatusCode::INVALID_ARGUMENT,
           "id is empty");
  }
  {
    grpc::ClientContext ctx;
    v1::GetJobRequest r;
    r.set_id("job-424242");
    expect(stub->GetJob(&ctx, r, &job), grpc::StatusCode::NOT_FOUND, "no job 'job-424242'");
  }
  {
    grpc::ClientContext ctx;
    v1::CancelJobRequest r;
    r.set_id("nope");
    expect(stub->CancelJob(&ctx, r, &job), grpc::StatusCode::NOT_FOUND, "no job 'nope'");
  }
  {
    grpc::ClientContext ctx;
    v1::WatchJobRequest r;
    r.set_id("nope");
    auto reader = stub->WatchJob(&ctx, r);
    v1::JobEvent e;
    EXPECT_FALSE(reader->Read(&e));
    expect(reader->Finish(), grpc::StatusCode::NOT_FOUND, "no job 'nope'");
  }
  {
    grpc::ClientContext ctx;
    v1::ListJobsResponse jobs;
    ASSERT_TRUE(stub->ListJobs(&ctx, v1::ListJobsRequest(), &jobs).ok());
    EXPECT_EQ(jobs.jobs_size(), 0) << "no rejected request created a job";
  }
  {
    grpc::ClientContext ctx;
    v1::ListSnapshotsResponse snaps;
    ASSERT_TRUE(stub->ListSnapshots(&ctx, v1::ListSnapshotsRequest(), &snaps).ok());
    EXPECT_EQ(snaps.snapshots_size(), 1);
  }
  // A verify of an unknown snapshot is a job that fails with exit 2.
  {
    grpc::ClientContext ctx;
    v1::StartVerifyRequest r;
    r.set_snapshot("h_x/20200101T000000Z");
    v1::Job started;
    ASSERT_TRUE(stub->StartVerify(&ctx, r, &started).ok());
    EXPECT_EQ(started.state(), v1::JOB_STATE_PENDING);
    v1::Job end = WaitJob(*stub, started.id());
    EXPECT_EQ(end.state(), v1::JOB_STATE_FAILED);
    EXPECT_EQ(end.status().exit_code(), 2);
    EXPECT_EQ(end.status().grpc_code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));
    // The watch of an ended job: the final Job only.
    grpc::ClientContext wctx;
    v1::WatchJobRequest w;
    w.set_id(started.id());
    auto reader = stub->WatchJob(&wctx, w);
    v1::JobEvent e;
    ASSERT_TRUE(reader->Read(&e));
    EXPECT_TRUE(e.has_final());
    EXPECT_FALSE(reader->Read(&e));
    EXPECT_TRUE(reader->Finish().ok());
  }
  // The Uploader.Verify RPC directly: bad workers, unknown snapshot.
  {
    auto up = v1::Uploader::NewStub(Insecure(uploader_->address()));
    grpc::ClientContext ctx;
    v1::VerifyRequest r;
    r.set_workers(-1);
    v1::VerifyResponse resp;
    expect(up->Verify(&ctx, r, &resp), grpc::StatusCode::INVALID_ARGUMENT, "workers -1");
    grpc::ClientContext ctx2;
    r.set_workers(0);
    r.set_snapshot("nope/latest");
    expect(up->Verify(&ctx2, r, &resp), grpc::StatusCode::NOT_FOUND, "nope");
  }
  absl::StatusOr<bool> serving =
      services::CheckServing(Insecure(orch->address()), "", absl::Seconds(5));
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_TRUE(*serving);
  // SIGTERM: drains and exits 0.
  EXPECT_EQ(orch->Stop(), 0) << orch->Stderr();
  // Bad flags: exit 2.
  RunResult no_uploader = RunProgram(
      {Runfile("services/orchestrator/orchestrator"), "--listen=127.0.0.1:0", "--insecure"});
  EXPECT_EQ(no_uploader.exit_code, 2) << no_uploader.Describe();
  EXPECT_NE(no_uploader.err.find("--uploader"), std::string::npos) << no_uploader.err;
}

TEST_F(OrchestratorApi, BearerTokenIsRequiredAndNothingStartsWithoutIt) {
  const std::string dir = NewTempDir("token");
  std::ofstream(dir + "/token") << "s3cret-token\n";
  std::ofstream(dir + "/wrong") << "not-it\n";
  auto orch = Orchestrator({"--auth-token-file", dir + "/token"});
  ASSERT_NE(orch, nullptr);
  auto stub = v1::Orchestrator::NewStub(Insecure(orch->address()));
  v1::Job job;
  {
    grpc::ClientContext ctx;
    grpc::Status s = stub->StartVerify(&ctx, v1::StartVerifyRequest(), &job);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
    EXPECT_NE(s.error_message().find("no authorization"), std::string::npos);
  }
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer not-it");
    grpc::Status s = stub->StartVerify(&ctx, v1::StartVerifyRequest(), &job);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
    EXPECT_NE(s.error_message().find("not valid"), std::string::npos);
  }
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Basic s3cret-token");
    v1::ListJobsResponse jobs;
    grpc::Status s = stub->ListJobs(&ctx, v1::ListJobsRequest(), &jobs);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  RunResult wrong = RunProgram({Arca(), "--orchestrator=" + orch->address(), "--insecure",
                                "--token-file", dir + "/wrong", "verify"});
  EXPECT_EQ(wrong.exit_code, 2) << wrong.Describe();
  EXPECT_NE(wrong.err.find("not valid"), std::string::npos) << wrong.err;
  RunResult missing =
      RunProgram({Arca(), "--orchestrator=" + orch->address(), "--insecure", "cancel", "job-1"});
  EXPECT_EQ(missing.exit_code, 2) << missing.Describe();
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer s3cret-token");
    v1::ListJobsResponse jobs;
    ASSERT_TRUE(stub->ListJobs(&ctx, v1::ListJobsRequest(), &jobs).ok());
    EXPECT_EQ(jobs.jobs_size(), 0) << "no job was created by an unauthenticated call";
  }
  RunResult right = RunProgram({Arca(), "--orchestrator=" + orch->address(), "--insecure",
                                "--token-file", dir + "/token", "verify"});
  EXPECT_EQ(right.exit_code, 0) << right.Describe();
  RunResult empty_token =
      RunProgram({Runfile("services/orchestrator/orchestrator"), "--listen=127.0.0.1:0",
                  "--insecure", "--uploader=127.0.0.1:1", "--auth-token-file", "/dev/null"});
  EXPECT_EQ(empty_token.exit_code, 2) << empty_token.Describe();
}

TEST_F(OrchestratorApi, TlsWithClientCertificatesRefusesPlaintextAndForeignClients) {
  const std::string certs = NewTempDir("certs");
  RunResult made = RunProgram({"/bin/sh", Runfile("tests/distributed/make_certs.sh"), certs});
  ASSERT_EQ(made.exit_code, 0) << made.Describe();
  auto orch = Orchestrator({"--tls-cert", certs + "/orchestrator.pem", "--tls-key",
                            certs + "/orchestrator.key", "--tls-client-ca", certs + "/ca.pem",
                            "--client-insecure"});
  ASSERT_NE(orch, nullptr);
  const std::string addr = "--orchestrator=" + orch->address();
  RunResult plain = RunProgram({Arca(), addr, "--insecure", "jobs"}, absl::Seconds(60));
  EXPECT_EQ(plain.exit_code, 1) << plain.Describe();
  RunResult no_cert =
      RunProgram({Arca(), addr, "--tls-ca", certs + "/ca.pem", "jobs"}, absl::Seconds(60));
  EXPECT_EQ(no_cert.exit_code, 1) << no_cert.Describe();
  RunResult foreign =
      RunProgram({Arca(), addr, "--tls-ca", certs + "/ca.pem", "--tls-cert",
                  certs + "/other-client.pem", "--tls-key", certs + "/other-client.key", "jobs"},
                 absl::Seconds(60));
  EXPECT_EQ(foreign.exit_code, 1) << foreign.Describe();
  // A certificate of the right CA but of another role is not a client.
  RunResult chunker =
      RunProgram({Arca(), addr, "--tls-ca", certs + "/ca.pem", "--tls-cert", certs + "/chunker.pem",
                  "--tls-key", certs + "/chunker.key", "jobs"},
                 absl::Seconds(60));
  EXPECT_NE(chunker.exit_code, 0) << chunker.Describe();
  EXPECT_NE(chunker.err.find("spiffe://arca/arca/chunker may not call "
                             "/arca.v1.Orchestrator/ListJobs"),
            std::string::npos)
      << chunker.Describe();
  RunResult good = RunProgram({Arca(), addr, "--tls-ca", certs + "/ca.pem", "--tls-cert",
                               certs + "/client.pem", "--tls-key", certs + "/client.key", "verify"},
                              absl::Seconds(60));
  EXPECT_EQ(good.exit_code, 0) << good.Describe() << orch->Stderr();
  RunResult jobs = RunProgram({Arca(), addr, "--tls-ca", certs + "/ca.pem", "--tls-cert",
                               certs + "/client.pem", "--tls-key", certs + "/client.key", "jobs"},
                              absl::Seconds(60));
  EXPECT_EQ(jobs.exit_code, 0) << jobs.Describe();
  EXPECT_TRUE(std::regex_search(jobs.out, std::regex(R"(\njob-[0-9a-z]{26} +verify +succeeded )")))
      << jobs.out;

  // The orchestrator calls an uploader that requires client certificates.
  auto tls_uploader =
      Start("uploader", {"--repo", repo_, "--tls-cert", certs + "/uploader.pem", "--tls-key",
                         certs + "/uploader.key", "--tls-client-ca", certs + "/ca.pem"});
  ASSERT_NE(tls_uploader, nullptr);
  auto orch2 = Start("orchestrator",
                     {"--insecure", "--uploader=" + tls_uploader->address(), "--client-tls-ca",
                      certs + "/ca.pem", "--client-tls-cert", certs + "/orchestrator.pem",
                      "--client-tls-key", certs + "/orchestrator.key"});
  ASSERT_NE(orch2, nullptr);
  RunResult through_tls = RunProgram(
      {Arca(), "--orchestrator=" + orch2->address(), "--insecure", "verify"}, absl::Seconds(60));
  EXPECT_EQ(through_tls.exit_code, 0) << through_tls.Describe() << orch2->Stderr();
  // Without a client certificate the uploader refuses it: the verify job
  // fails as an unreachable uploader (phase upload, exit 12).
  auto orch3 = Start("orchestrator", {"--insecure", "--uploader=" + tls_uploader->address(),
                                      "--client-tls-ca", certs + "/ca.pem"});
  ASSERT_NE(orch3, nullptr);
  RunResult refused = RunProgram(
      {Arca(), "--orchestrator=" + orch3->address(), "--insecure", "verify"}, absl::Seconds(60));
  EXPECT_EQ(refused.exit_code, 12) << refused.Describe();
  EXPECT_NE(refused.err.find("failed in phase upload"), std::string::npos) << refused.err;
}

}  // namespace
}  // namespace arca::distributed
