#include "tools/arca/job_textfile.h"

#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "arca/v1/repository.pb.h"
#include "gtest/gtest.h"
#include "libs/store/repository.h"

namespace arca::cli {
namespace {

std::string TempDir(const std::string& name) {
  std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
  mkdir(dir.c_str(), 0755);
  return dir;
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(JobTextfileTest, CheckAcceptsNoFlagAndAWritableDirectory) {
  EXPECT_TRUE(CheckTextfileFlag(std::nullopt).ok());
  EXPECT_TRUE(CheckTextfileFlag(TempDir("ok") + "/arca.prom").ok());
}

TEST(JobTextfileTest, CheckNamesTheFlagAndThePath) {
  absl::Status empty = CheckTextfileFlag(std::string());
  EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(empty.message().find("--metrics-textfile: empty path"), std::string::npos) << empty;
  const std::string missing = TempDir("m") + "/no/such/arca.prom";
  absl::Status st = CheckTextfileFlag(missing);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_EQ(st.message().rfind("--metrics-textfile: ", 0), 0u) << st;
  EXPECT_NE(st.message().find(missing), std::string::npos) << st;
}

TEST(JobTextfileTest, WriteRecordsTheOutcomeOrReturnsAWarningNamingThePath) {
  metrics::JobOutcome o;
  o.type = "verify";
  o.exit_code = 8;
  o.start = std::chrono::system_clock::now();
  o.end = o.start + std::chrono::seconds(2);
  EXPECT_EQ(WriteTextfileFlag(std::nullopt, o, std::nullopt), std::nullopt);
  const std::string path = TempDir("w") + "/arca.prom";
  EXPECT_EQ(WriteTextfileFlag(path, o, std::nullopt), std::nullopt);
  const std::string text = Read(path);
  EXPECT_NE(text.find("arca_jobs_total{result=\"failure\",type=\"verify\"} 1"), std::string::npos)
      << text;
  EXPECT_NE(text.find("arca_job_failures_total{exit_code=\"8\",phase=\"verification\"} 1"),
            std::string::npos)
      << text;

  const std::string bad = TempDir("b") + "/gone/arca.prom";
  std::optional<std::string> warning = WriteTextfileFlag(bad, o, std::nullopt);
  ASSERT_TRUE(warning.has_value());
  EXPECT_NE(warning->find("metrics textfile " + bad + " not written"), std::string::npos)
      << *warning;
}

TEST(JobTextfileTest, NewestSnapshotTimeOfAnEmptyOrUnknownGroupIsUnset) {
  const std::string dir = TempDir("repo") + "/r";
  v1::RepositoryConfig config;
  absl::StatusOr<std::unique_ptr<Repository>> repo = Repository::Init(dir, config);
  ASSERT_TRUE(repo.ok()) << repo.status();
  EXPECT_EQ(NewestSnapshotTime(**repo, "host_src"), std::nullopt);
  EXPECT_EQ(NewestSnapshotTime(**repo, ""), std::nullopt);
  EXPECT_EQ(NewestSnapshotTime(**repo, "../bad"), std::nullopt);
}

TEST(JobTextfileTest, FinalExitCodeIs130OnlyForACancelledFailure) {
  EXPECT_EQ(FinalExitCode(0, true), 0);
  EXPECT_EQ(FinalExitCode(12, true), 130);
  EXPECT_EQ(FinalExitCode(12, false), 12);
  EXPECT_EQ(FinalExitCode(130, false), 130);
}

}  // namespace
}  // namespace arca::cli
