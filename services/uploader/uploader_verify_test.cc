// Uploader.Verify (uploader_verify.cc): VerifyRepository on a repository
// written by the embedded backup, and the RPC through an in-process server.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "libs/chunker/chunker.h"
#include "libs/fs/file_system.h"
#include "libs/metrics/registry.h"
#include "libs/metrics/testing.h"
#include "libs/pipeline/backup.h"
#include "libs/pipeline/cancel.h"
#include "libs/store/repository.h"
#include "prometheus/registry.h"
#include "services/uploader/uploader_service.h"

namespace arca::services {
namespace {

using metrics::testing::MetricValue;

namespace stdfs = std::filesystem;

class UploaderVerify : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string tmp = std::getenv("TEST_TMPDIR");
    root_ = tmp + "/" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    stdfs::remove_all(root_);
    stdfs::create_directories(root_ + "/src");
    for (int i = 0; i < 4; ++i) {
      std::ofstream(root_ + "/src/f" + std::to_string(i))
          << std::string(50000 + i, static_cast<char>('a' + i));
    }
    v1::RepositoryConfig config;
    *config.mutable_payload_chunker() = ChunkerParams::PayloadDefault().ToProto();
    *config.mutable_metadata_chunker() = ChunkerParams::MetadataDefault().ToProto();
    absl::StatusOr<std::unique_ptr<Repository>> repo = Repository::Init(root_ + "/repo", config);
    ASSERT_TRUE(repo.ok()) << repo.status();
    repo_ = *std::move(repo);
    BackupOptions options;
    options.source = root_ + "/src";
    options.host = "h";
    BackupResult r = RunBackup(*repo_, fs::DefaultFileSystem(), options, nullptr);
    ASSERT_TRUE(r.status.ok()) << r.status;
    snapshot_ = r.manifest.id();
  }

  void CorruptEveryChunk() {
    for (const auto& e : stdfs::recursive_directory_iterator(root_ + "/repo/chunks")) {
      if (!e.is_regular_file() || e.file_size() < 64) continue;
      int fd = open(e.path().c_str(), O_RDWR);
      ASSERT_GE(fd, 0);
      char b = 0;
      ASSERT_EQ(pread(fd, &b, 1, 40), 1);
      b ^= 1;
      ASSERT_EQ(pwrite(fd, &b, 1, 40), 1);
      close(fd);
    }
  }

  std::string root_;
  std::unique_ptr<Repository> repo_;
  std::string snapshot_;
};

TEST_F(UploaderVerify, IntactCorruptUnknownCancelledAndBadWorkers) {
  v1::VerifyRequest req;
  absl::StatusOr<v1::VerifyResponse> ok = VerifyRepository(*repo_, req, nullptr);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->exit_code(), 0);
  EXPECT_EQ(ok->snapshots(), 1u);
  EXPECT_GT(ok->chunks(), 0u);
  EXPECT_GE(ok->bytes(), 200000u);
  EXPECT_EQ(ok->problems_size(), 0);

  req.set_snapshot(snapshot_);
  req.set_workers(1);
  ok = VerifyRepository(*repo_, req, nullptr);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->exit_code(), 0);

  req.set_snapshot("h_nope/latest");
  absl::StatusOr<v1::VerifyResponse> unknown = VerifyRepository(*repo_, req, nullptr);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound) << unknown.status();

  req.set_snapshot("");
  req.set_workers(257);
  absl::StatusOr<v1::VerifyResponse> bad = VerifyRepository(*repo_, req, nullptr);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("workers 257"), std::string::npos) << bad.status();

  req.set_workers(0);
  CancelToken cancel;
  cancel.Cancel();
  absl::StatusOr<v1::VerifyResponse> cancelled = VerifyRepository(*repo_, req, &cancel);
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled) << cancelled.status();

  CorruptEveryChunk();
  absl::StatusOr<v1::VerifyResponse> corrupt = VerifyRepository(*repo_, req, nullptr);
  ASSERT_TRUE(corrupt.ok()) << corrupt.status();
  EXPECT_EQ(corrupt->exit_code(), 8);
  ASSERT_GT(corrupt->problems_size(), 0);
  EXPECT_NE(corrupt->problems(0).find(snapshot_), std::string::npos) << corrupt->problems(0);
}

TEST_F(UploaderVerify, TheRpcThroughAServer) {
  UploaderService service(repo_.get(), {.threads = 2});
  grpc::ServerBuilder builder;
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  std::shared_ptr<grpc::Channel> channel = server->InProcessChannel(grpc::ChannelArguments());
  auto stub = v1::Uploader::NewStub(channel);
  {
    grpc::ClientContext ctx;
    v1::VerifyRequest req;
    v1::VerifyResponse resp;
    grpc::Status s = stub->Verify(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.exit_code(), 0);
    EXPECT_EQ(resp.snapshots(), 1u);
  }
  {
    grpc::ClientContext ctx;
    v1::VerifyRequest req;
    req.set_snapshot("h_nope/latest");
    v1::VerifyResponse resp;
    grpc::Status s = stub->Verify(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  }
  // Calls cancelled at once, many times: the reactor's thread and OnCancel
  // never outlive the call (ASan checks).
  for (int i = 0; i < 20; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::microseconds(i * 200));
    v1::VerifyRequest req;
    v1::VerifyResponse resp;
    grpc::Status s = stub->Verify(&ctx, req, &resp);
    EXPECT_TRUE(s.ok() || s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
                s.error_code() == grpc::StatusCode::CANCELLED)
        << s.error_message();
  }
  CorruptEveryChunk();
  {
    grpc::ClientContext ctx;
    v1::VerifyRequest req;
    v1::VerifyResponse resp;
    grpc::Status s = stub->Verify(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.exit_code(), 8);
    EXPECT_GT(resp.problems_size(), 0);
  }
  server->Shutdown();
}

TEST_F(UploaderVerify, MetricsCountRunsFailuresProblemsAndErrors) {
  UploaderService service(repo_.get(), {.threads = 2});
  grpc::ServerBuilder builder;
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  auto stub = v1::Uploader::NewStub(server->InProcessChannel(grpc::ChannelArguments()));
  auto verify = [&](const std::string& snapshot, v1::VerifyResponse* resp) {
    grpc::ClientContext ctx;
    v1::VerifyRequest req;
    req.set_snapshot(snapshot);
    return stub->Verify(&ctx, req, resp);
  };
  const std::map<std::string, std::string> err{{"phase", "verification"}, {"exit_code", "8"}};
  const double runs = MetricValue("arca_uploader_verify_runs_total");
  const double failures = MetricValue("arca_uploader_verify_failures_total");
  const double problems = MetricValue("arca_uploader_verify_problems_total");
  const double errors = MetricValue("arca_uploader_errors_total", err);

  v1::VerifyResponse resp;
  ASSERT_TRUE(verify("", &resp).ok());
  EXPECT_EQ(MetricValue("arca_uploader_verify_runs_total") - runs, 1);
  EXPECT_EQ(MetricValue("arca_uploader_verify_failures_total") - failures, 0);
  EXPECT_EQ(verify("h_nope/latest", &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(MetricValue("arca_uploader_verify_runs_total") - runs, 1);
  EXPECT_EQ(MetricValue("arca_uploader_errors_total", err) - errors, 1);
  CorruptEveryChunk();
  ASSERT_TRUE(verify("", &resp).ok());
  EXPECT_EQ(resp.exit_code(), 8);
  EXPECT_EQ(MetricValue("arca_uploader_verify_runs_total") - runs, 2);
  EXPECT_EQ(MetricValue("arca_uploader_verify_failures_total") - failures, 1);
  EXPECT_EQ(MetricValue("arca_uploader_verify_problems_total") - problems, resp.problems_size());
  server->Shutdown();
}

}  // namespace
}  // namespace arca::services
