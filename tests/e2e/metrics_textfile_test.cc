// `arca backup|restore|verify --metrics-textfile PATH` with the real binary:
// the file passes the real `promtool check metrics`, its job counters match
// the --json statistics, runs carry forward (a collection failure keeps the
// first group's last-success time and is counted under phase collection and
// exit code 9), a lost file is re-seeded from the repository, a bad path
// exits 2 before the repository is touched, and a failed write leaves the
// exit code alone.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "tests/e2e/arca_runner.h"

namespace arca::e2e {
namespace {

constexpr char kPromtool[] = "/usr/bin/promtool";

// The value of the sample `series` (name with its labels exactly as the
// file spells them, e.g. arca_jobs_total{result="success",type="backup"});
// -1 when the file has no such sample.
double Sample(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.size() <= series.size() + 1 || line.substr(0, series.size()) != series ||
        line[series.size()] != ' ') {
      continue;
    }
    double v;
    if (absl::SimpleAtod(line.substr(series.size() + 1), &v)) return v;
  }
  return -1;
}

std::string SampleLine(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, series + " ")) return std::string(line);
  }
  return "";
}

// `promtool check metrics < path`: exit code and output.
RunResult PromtoolCheck(const std::string& path) {
  return RunProgram({"/bin/sh", "-c", absl::StrCat(kPromtool, " check metrics < '", path, "'")});
}

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string Group(const std::string& snapshot_id) {
  return snapshot_id.substr(0, snapshot_id.rfind('/'));
}

class MetricsTextfileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(access(kPromtool, X_OK), 0) << kPromtool << " is needed (Debian: prometheus)";
    src_ = NewTempDir("src");
    WriteFile(src_ + "/a.txt", "hello\n");
    WriteFile(src_ + "/b.bin", std::string(300000, 'b'));
    WriteFile(src_ + "/c.txt", std::string(5000, 'c'));
    ASSERT_EQ(mkdir((src_ + "/sub").c_str(), 0755), 0);
    WriteFile(src_ + "/sub/d.txt", "d\n");
    repo_ = NewTempDir("repo") + "/repo";
    ASSERT_EQ(RunArca({"init", "--repo", repo_}).exit_code, 0);
    prom_dir_ = NewTempDir("textfile");
    prom_ = prom_dir_ + "/arca.prom";
  }

  int SnapshotCount() {
    RunResult r = RunArca({"snapshots", "--repo", repo_, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    int n = 0;
    for (size_t pos = r.out.find("\"id\""); pos != std::string::npos;
         pos = r.out.find("\"id\"", pos + 1)) {
      ++n;
    }
    return n;
  }

  std::string src_, repo_, prom_dir_, prom_;
};

TEST_F(MetricsTextfileTest, BackupFilePassesPromtoolAndMatchesTheJsonStatistics) {
  const double before = Now();
  RunResult r = RunArca({"backup", src_, "--repo", repo_, "--json", "--metrics-textfile", prom_});
  const double after = Now();
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  const std::string text = ReadFile(prom_);
  EXPECT_EQ(FirstLine(text), "# arca metrics textfile v1");
  RunResult check = PromtoolCheck(prom_);
  EXPECT_EQ(check.exit_code, 0) << check.Describe() << "\n" << text;
  EXPECT_EQ(check.out + check.err, "") << "promtool lint messages";

  // The counters are the statistics of the --json result.
  ASSERT_EQ(JsonNumber(r.out, "exit_code"), 0);
  EXPECT_EQ(Sample(text, "arca_job_collected_bytes_total"), JsonNumber(r.out, "bytes_collected"));
  EXPECT_EQ(Sample(text, "arca_job_collected_bytes_total"), 300000 + 5000 + 6 + 2);
  EXPECT_EQ(Sample(text, "arca_job_new_chunks_total"), JsonNumber(r.out, "chunks_new"));
  EXPECT_GT(Sample(text, "arca_job_new_chunks_total"), 0);
  EXPECT_EQ(Sample(text, "arca_job_files_total"), JsonNumber(r.out, "files"));
  EXPECT_EQ(Sample(text, "arca_job_files_total"), 4);
  EXPECT_EQ(Sample(text, "arca_job_directories_total"), JsonNumber(r.out, "directories"));
  EXPECT_EQ(Sample(text, "arca_job_stored_bytes_total"), JsonNumber(r.out, "bytes_new_stored"));
  EXPECT_EQ(Sample(text, "arca_jobs_total{result=\"success\",type=\"backup\"}"), 1);
  EXPECT_EQ(Sample(text, "arca_jobs_total{result=\"failure\",type=\"backup\"}"), 0);
  EXPECT_EQ(Sample(text, "arca_job_failures_total{exit_code=\"9\",phase=\"collection\"}"), 0);
  EXPECT_EQ(Sample(text, "arca_job_duration_seconds_count{type=\"backup\"}"), 1);

  const std::string group = Group(JsonStringValue(r.out, "snapshot"));
  ASSERT_FALSE(group.empty()) << r.out;
  const double last =
      Sample(text, absl::StrCat("arca_last_success_timestamp_seconds{group=\"", group, "\"}"));
  EXPECT_GE(last, before - 1) << text;
  EXPECT_LE(last, after + 1) << text;
  EXPECT_EQ(Sample(text, absl::StrCat("arca_last_job_exit_code{group=\"", group, "\"}")), 0);

  struct stat st;
  ASSERT_EQ(stat(prom_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  EXPECT_EQ(ListFiles(prom_dir_), std::vector<std::string>{prom_}) << "temporary file left";
}

TEST_F(MetricsTextfileTest, FailedBackupCarriesTheFirstGroupForwardAndOtherJobsAdd) {
  RunResult first =
      RunArca({"backup", src_, "--repo", repo_, "--json", "--metrics-textfile", prom_});
  ASSERT_EQ(first.exit_code, 0) << first.Describe();
  const std::string group = Group(JsonStringValue(first.out, "snapshot"));
  const std::string last_series =
      absl::StrCat("arca_last_success_timestamp_seconds{group=\"", group, "\"}");
  const std::string last_line = SampleLine(ReadFile(prom_), last_series);
  ASSERT_FALSE(last_line.empty()) << ReadFile(prom_);

  // A missing source: collection fails (exit 9).
  RunResult failed = RunArca(
      {"backup", NewTempDir("gone") + "/missing", "--repo", repo_, "--metrics-textfile", prom_});
  ASSERT_EQ(failed.exit_code, 9) << failed.Describe();
  std::string text = ReadFile(prom_);
  EXPECT_EQ(SampleLine(text, last_series), last_line) << "the first group's success is kept";
  EXPECT_EQ(Sample(text, "arca_job_failures_total{exit_code=\"9\",phase=\"collection\"}"), 1)
      << text;
  EXPECT_EQ(Sample(text, "arca_jobs_total{result=\"success\",type=\"backup\"}"), 1);
  EXPECT_EQ(Sample(text, "arca_jobs_total{result=\"failure\",type=\"backup\"}"), 1);
  EXPECT_EQ(Sample(text, "arca_job_duration_seconds_count{type=\"backup\"}"), 2);
  EXPECT_EQ(Sample(text, "arca_job_files_total"), 4) << "the failed run added no files";
  EXPECT_EQ(PromtoolCheck(prom_).exit_code, 0) << text;

  // Verify and restore add their jobs.
  RunResult verify = RunArca({"verify", "--repo", repo_, "--metrics-textfile", prom_});
  ASSERT_EQ(verify.exit_code, 0) << verify.Describe();
  RunResult restore = RunArca({"restore", "latest", NewTempDir("target") + "/out", "--repo", repo_,
                               "--metrics-textfile", prom_});
  ASSERT_EQ(restore.exit_code, 0) << restore.Describe();
  text = ReadFile(prom_);
  EXPECT_EQ(Sample(text, "arca_jobs_total{result=\"success\",type=\"verify\"}"), 1) << text;
  EXPECT_EQ(Sample(text, "arca_jobs_total{result=\"success\",type=\"restore\"}"), 1);
  EXPECT_EQ(Sample(text, "arca_jobs_total{result=\"success\",type=\"backup\"}"), 1);
  EXPECT_EQ(Sample(text, "arca_job_failures_total{exit_code=\"9\",phase=\"collection\"}"), 1);
  EXPECT_EQ(SampleLine(text, last_series), last_line);
  EXPECT_EQ(PromtoolCheck(prom_).exit_code, 0) << text;

  // A verification of an unknown snapshot is a failed verify job (exit 2 after
  // the repository was opened).
  RunResult unknown =
      RunArca({"verify", "no-such/snapshot", "--repo", repo_, "--metrics-textfile", prom_});
  ASSERT_EQ(unknown.exit_code, 2) << unknown.Describe();
  text = ReadFile(prom_);
  EXPECT_EQ(Sample(text, "arca_jobs_total{result=\"failure\",type=\"verify\"}"), 1) << text;
}

TEST_F(MetricsTextfileTest, LostTextfileIsSeededFromTheRepository) {
  const double before = Now();
  RunResult first = RunArca({"backup", src_, "--repo", repo_, "--json"});
  const double after = Now();
  ASSERT_EQ(first.exit_code, 0) << first.Describe();
  const std::string group = Group(JsonStringValue(first.out, "snapshot"));
  // The same group fails later (its source is gone) and no textfile exists.
  const std::string moved = NewTempDir("moved") + "/src";
  ASSERT_EQ(rename(src_.c_str(), moved.c_str()), 0);
  RunResult failed = RunArca({"backup", src_, "--repo", repo_, "--metrics-textfile", prom_});
  ASSERT_EQ(failed.exit_code, 9) << failed.Describe();
  const std::string text = ReadFile(prom_);
  const double last =
      Sample(text, absl::StrCat("arca_last_success_timestamp_seconds{group=\"", group, "\"}"));
  EXPECT_GE(last, before - 1) << text;
  EXPECT_LE(last, after + 1) << text;
  EXPECT_EQ(Sample(text, absl::StrCat("arca_last_job_exit_code{group=\"", group, "\"}")), 9);
  EXPECT_EQ(Sample(text, "arca_jobs_total{result=\"success\",type=\"backup\"}"), 0);
  EXPECT_EQ(Sample(text, "arca_job_failures_total{exit_code=\"9\",phase=\"collection\"}"), 1);
}

TEST_F(MetricsTextfileTest, UnwritablePathExits2BeforeTouchingTheRepository) {
  WriteFile(prom_dir_ + "/file", "x");
  for (const std::string& bad :
       {prom_dir_ + "/missing-dir/arca.prom", prom_dir_ + "/file/arca.prom", prom_dir_}) {
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"backup", src_, "--repo", repo_},
          std::vector<std::string>{"verify", "--repo", repo_},
          std::vector<std::string>{"restore", "latest", prom_dir_ + "/t", "--repo", repo_}}) {
      std::vector<std::string> full = args;
      full.push_back("--metrics-textfile=" + bad);
      RunResult r = RunArca(full);
      EXPECT_EQ(r.exit_code, 2) << r.Describe();
      EXPECT_NE(r.err.find("--metrics-textfile"), std::string::npos) << r.err;
      EXPECT_NE(r.err.find(bad), std::string::npos) << r.err;
    }
  }
  EXPECT_EQ(SnapshotCount(), 0) << "no snapshot may be written";
  EXPECT_EQ(ListFiles(prom_dir_), std::vector<std::string>{prom_dir_ + "/file"});
  EXPECT_EQ(access((prom_dir_ + "/t").c_str(), F_OK), -1) << "restore must not start";
}

TEST_F(MetricsTextfileTest, FailedWriteWarnsAndKeepsTheExitCode) {
  // The path is fine when checked, but a pre-backup command removes its
  // directory before the job ends.
  const std::string dir = NewTempDir("vanishing");
  const std::string path = dir + "/arca.prom";
  RunResult r = RunArca({"backup", src_, "--repo", repo_, "--json", "--metrics-textfile", path,
                         "--command", "rm=rmdir " + dir});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_NE(r.err.find("warning: metrics textfile " + path + " not written"), std::string::npos)
      << r.err;
  EXPECT_NE(r.out.find("not written"), std::string::npos) << "a --json warning entry: " << r.out;
  EXPECT_EQ(JsonNumber(r.out, "exit_code"), 0);
  EXPECT_EQ(SnapshotCount(), 1);
}

}  // namespace
}  // namespace arca::e2e
