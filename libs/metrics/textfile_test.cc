#include "libs/metrics/textfile.h"

#include <dirent.h>
#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/metrics/job_metrics.h"
#include "libs/metrics/registry.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace arca::metrics {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::string TestDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string dir = std::string(tmp ? tmp : "/tmp") + "/" + name;
  std::string cmd = "rm -rf '" + dir + "' && mkdir -p '" + dir + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  return dir;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(d);
  return names;
}

int Promtool(const std::string& path, std::string* output) {
  FILE* p = popen(("/usr/bin/promtool check metrics < '" + path + "' 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) output->append(buf, n);
  return pclose(p);
}

std::chrono::system_clock::time_point At(double seconds) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::duration<double>(seconds)));
}

// One cron-style run of the CLI: a fresh registry, one backup, the textfile.
absl::Status RunCli(const std::string& path, int exit_code, double end, uint64_t bytes,
                    std::vector<std::string>* warnings = nullptr) {
  prometheus::Registry registry;
  JobMetrics m(registry);
  JobOutcome o;
  o.type = "backup";
  o.group = "home";
  o.exit_code = exit_code;
  if (exit_code == 9) o.failed_phase = v1::PHASE_COLLECTION;
  o.start = At(end - 10);
  o.end = At(end);
  v1::BackupStats s;
  s.set_bytes_collected(bytes);
  (*s.mutable_phase_seconds())["upload"] = 1;
  o.backup_stats = s;
  RecordJobResult(m, o);
  TextfileOptions options;
  options.warn = [warnings](const std::string& w) {
    if (warnings) warnings->push_back(w);
  };
  return WriteMetricsTextfile(registry, path, options);
}

TEST(TextfileTest, OutputPassesPromtoolAndStartsWithMarker) {
  const std::string dir = TestDir("promtool");
  const std::string path = dir + "/arca.prom";
  ASSERT_TRUE(RunCli(path, 0, 1000, 4096).ok());
  const std::string text = ReadFile(path);
  EXPECT_EQ(text.rfind(std::string(kTextfileMarker) + "\n", 0), 0u) << text;
  std::string output;
  EXPECT_EQ(Promtool(path, &output), 0) << output << "\n" << text;
  EXPECT_EQ(output, "");
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST(TextfileTest, ReplacesOldFileAtomicallyAndLeavesNoTemporaryFile) {
  const std::string dir = TestDir("atomic");
  const std::string path = dir + "/arca.prom";
  std::ofstream(path) << kTextfileMarker << "\n# TYPE arca_jobs_total counter\n";
  struct stat before;
  ASSERT_EQ(stat(path.c_str(), &before), 0);
  ASSERT_TRUE(RunCli(path, 0, 1000, 1).ok());
  struct stat after;
  ASSERT_EQ(stat(path.c_str(), &after), 0);
  EXPECT_NE(before.st_ino, after.st_ino);  // a new file renamed over the old one
  EXPECT_THAT(ListDir(dir), ElementsAre("arca.prom"));
  EXPECT_THAT(ReadFile(path), HasSubstr("arca_jobs_total{result=\"success\",type=\"backup\"} 1\n"));
}

TEST(TextfileTest, MissingDirectoryIsAClearError) {
  const std::string dir = TestDir("missing");
  const std::string path = dir + "/no/such/dir/arca.prom";
  absl::Status st = RunCli(path, 0, 1000, 1);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("cannot open directory " + dir + "/no/such/dir"));
  EXPECT_THAT(st.message(), HasSubstr("metrics textfile " + path));
  EXPECT_THAT(st.message(), HasSubstr("No such file or directory"));
}

TEST(TextfileTest, ParentIsAFileIsAClearError) {
  const std::string dir = TestDir("notdir");
  std::ofstream(dir + "/file") << "x";
  const std::string path = dir + "/file/arca.prom";
  absl::Status st = RunCli(path, 0, 1000, 1);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr(path));
  EXPECT_THAT(st.message(), HasSubstr("Not a directory"));
}

// A directory nobody may create files in, root included: procfs.
TEST(TextfileTest, UnwritableDirectoryIsAClearError) {
  const std::string path = "/proc/arca.prom";
  absl::Status st = RunCli(path, 0, 1000, 1);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(),
              HasSubstr("cannot create a temporary file in /proc for metrics textfile " + path +
                        "; make the directory writable or choose another --metrics-textfile: "));
  absl::Status check = CheckMetricsTextfilePath(path);
  EXPECT_EQ(check.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(check.message(), st.message());
}

TEST(TextfileTest, PathThatIsADirectoryIsAClearErrorAndNothingIsLeft) {
  const std::string dir = TestDir("isdir");
  const std::string path = dir + "/arca.prom";
  ASSERT_EQ(mkdir(path.c_str(), 0755), 0);
  absl::Status st = RunCli(path, 0, 1000, 1);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(),
              HasSubstr("metrics textfile " + path + " exists and is not a regular file"));
  prometheus::Registry empty;
  TextfileOptions no_carry;
  no_carry.carry_forward = false;
  st = WriteMetricsTextfile(empty, path, no_carry);  // the rename fails
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("to metrics textfile " + path));
  EXPECT_THAT(ListDir(dir), ElementsAre("arca.prom"));
}

TEST(TextfileTest, PathWithoutFileNameIsInvalid) {
  prometheus::Registry empty;
  absl::Status st = WriteMetricsTextfile(empty, TestDir("slash") + "/");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("names a directory"));
}

TEST(TextfileTest, CountersAndLastSuccessSurviveAFailedRun) {
  const std::string path = TestDir("carry") + "/arca.prom";
  ASSERT_TRUE(RunCli(path, 0, 1000, 100).ok());  // run 1: success
  ASSERT_TRUE(RunCli(path, 9, 2000, 30).ok());   // run 2: collection failed
  std::string text = ReadFile(path);
  EXPECT_THAT(text, HasSubstr("arca_jobs_total{result=\"success\",type=\"backup\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("arca_jobs_total{result=\"failure\",type=\"backup\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("arca_job_failures_total{exit_code=\"9\",phase=\"collection\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("arca_last_success_timestamp_seconds{group=\"home\"} 1000\n"));
  EXPECT_THAT(text, HasSubstr("arca_last_job_exit_code{group=\"home\"} 9\n"));
  EXPECT_THAT(text, HasSubstr("arca_job_collected_bytes_total 130\n"));
  EXPECT_THAT(text, HasSubstr("arca_job_duration_seconds_count{type=\"backup\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("arca_job_duration_seconds_sum{type=\"backup\"} 20\n"));
  EXPECT_THAT(text, HasSubstr("arca_job_duration_seconds_bucket{type=\"backup\",le=\"15\"} 2\n"));

  ASSERT_TRUE(RunCli(path, 0, 3000, 5).ok());  // run 3: success again
  text = ReadFile(path);
  EXPECT_THAT(text, HasSubstr("arca_jobs_total{result=\"success\",type=\"backup\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("arca_job_failures_total{exit_code=\"9\",phase=\"collection\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("arca_last_success_timestamp_seconds{group=\"home\"} 3000\n"));
  EXPECT_THAT(text, HasSubstr("arca_last_job_exit_code{group=\"home\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("arca_job_collected_bytes_total 135\n"));
  EXPECT_THAT(text, HasSubstr("arca_job_phase_duration_seconds_count{phase=\"upload\"} 3\n"));
  std::string output;
  EXPECT_EQ(Promtool(path, &output), 0) << output;
}

TEST(TextfileTest, OtherGroupsAreKept) {
  const std::string path = TestDir("groups") + "/arca.prom";
  {
    prometheus::Registry r;
    JobMetrics m(r);
    NoteLastSuccess(m, "etc", At(500));
    ASSERT_TRUE(WriteMetricsTextfile(r, path).ok());
  }
  ASSERT_TRUE(RunCli(path, 0, 1000, 1).ok());
  const std::string text = ReadFile(path);
  EXPECT_THAT(text, HasSubstr("arca_last_success_timestamp_seconds{group=\"etc\"} 500\n"));
  EXPECT_THAT(text, HasSubstr("arca_last_success_timestamp_seconds{group=\"home\"} 1000\n"));
}

TEST(TextfileTest, ForeignOrGarbageFileIsReplacedWithAWarning) {
  const std::string dir = TestDir("garbage");
  const std::string path = dir + "/arca.prom";
  std::ofstream(path)
      << "# TYPE arca_jobs_total counter\narca_jobs_total{result=\"success\",type=\"backup\"} 50\n";
  std::vector<std::string> warnings;
  ASSERT_TRUE(RunCli(path, 0, 1000, 1, &warnings).ok());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr(path + " was not written by arca"));
  EXPECT_THAT(ReadFile(path), HasSubstr("arca_jobs_total{result=\"success\",type=\"backup\"} 1\n"));

  std::ofstream(path) << kTextfileMarker << "\n# TYPE x counter\nx{a=\"unterminated} 1\n";
  warnings.clear();
  ASSERT_TRUE(RunCli(path, 0, 1000, 1, &warnings).ok());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr(path + " cannot be parsed (line 3:"));
  EXPECT_THAT(ReadFile(path), HasSubstr("arca_jobs_total{result=\"success\",type=\"backup\"} 1\n"));
  EXPECT_THAT(ListDir(dir), ElementsAre("arca.prom"));
}

TEST(TextfileTest, ConcurrentWritersLoseNoIncrement) {
  const std::string path = TestDir("concurrent") + "/arca.prom";
  constexpr int kWriters = 8;
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(kWriters);
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] {
      prometheus::Registry r;
      SimpleCounter(r, "arca_test_runs_total", "runs").Increment();
      results[i] = WriteMetricsTextfile(r, path);
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& st : results) EXPECT_TRUE(st.ok()) << st;
  EXPECT_THAT(ReadFile(path), HasSubstr("arca_test_runs_total 8\n"));
}

TEST(WriteJobTextfileTest, RecordsTheOutcomeAndSeedsLastSuccess) {
  const std::string path = TestDir("job") + "/arca.prom";
  JobOutcome failed;
  failed.type = "backup";
  failed.group = "db";
  failed.exit_code = 12;
  failed.failed_phase = v1::PHASE_UPLOAD;
  failed.start = At(5000);
  failed.end = At(5100);
  ASSERT_TRUE(WriteJobTextfile(path, failed, At(4000)).ok());
  std::string text = ReadFile(path);
  EXPECT_THAT(text, HasSubstr("arca_job_failures_total{exit_code=\"12\",phase=\"upload\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("arca_last_success_timestamp_seconds{group=\"db\"} 4000\n"));
  EXPECT_THAT(text, HasSubstr("arca_last_job_exit_code{group=\"db\"} 12\n"));
  ASSERT_TRUE(WriteJobTextfile(path, failed).ok());  // no repository time: carried forward
  text = ReadFile(path);
  EXPECT_THAT(text, HasSubstr("arca_job_failures_total{exit_code=\"12\",phase=\"upload\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("arca_last_success_timestamp_seconds{group=\"db\"} 4000\n"));
}

TEST(CheckMetricsTextfilePathTest, AcceptsAWritableDirectoryAndLeavesNothing) {
  const std::string dir = TestDir("check");
  EXPECT_TRUE(CheckMetricsTextfilePath(dir + "/arca.prom").ok());
  EXPECT_TRUE(ListDir(dir).empty());
}

TEST(CheckMetricsTextfilePathTest, RejectsWhatWriteWouldReject) {
  const std::string dir = TestDir("check_bad");
  absl::Status st = CheckMetricsTextfilePath(dir + "/missing/arca.prom");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("cannot open directory " + dir + "/missing"));
  ASSERT_EQ(mkdir((dir + "/sub").c_str(), 0755), 0);
  st = CheckMetricsTextfilePath(dir + "/sub");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr(dir + "/sub exists and is not a regular file"));
  st = CheckMetricsTextfilePath(dir + "/");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseMetricsTextTest, RoundTripsLabelsAndSpecialValues) {
  const std::string text =
      "# HELP g a gauge\n# TYPE g gauge\ng{a=\"q\\\"u\\\\o\\nte\",b=\"\"} -Inf\ng Nan\n"
      "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 3\nh_sum 4.5\n"
      "h_count 3\n# a comment\n# TYPE c counter\nc 7 1700000000000\n";
  auto families = ParseMetricsText(text);
  ASSERT_TRUE(families.ok()) << families.status();
  ASSERT_EQ(families->size(), 3u);
  const auto& g = (*families)[0];
  EXPECT_EQ(g.help, "a gauge");
  ASSERT_EQ(g.metric.size(), 2u);
  ASSERT_EQ(g.metric[0].label.size(), 2u);
  EXPECT_EQ(g.metric[0].label[0].value, "q\"u\\o\nte");
  EXPECT_EQ(g.metric[0].gauge.value, -HUGE_VAL);
  EXPECT_TRUE(std::isnan(g.metric[1].gauge.value));
  const auto& h = (*families)[1].metric.at(0).histogram;
  EXPECT_EQ(h.sample_count, 3u);
  EXPECT_EQ(h.sample_sum, 4.5);
  ASSERT_EQ(h.bucket.size(), 2u);
  EXPECT_EQ(h.bucket[1].cumulative_count, 3u);
  EXPECT_EQ((*families)[2].metric.at(0).counter.value, 7);
}

TEST(ParseMetricsTextTest, LeIsAnOrdinaryLabelOutsideHistograms) {
  auto families = ParseMetricsText("# TYPE c counter\nc{le=\"1\"} 2\nc{le=\"2\"} 3\n");
  ASSERT_TRUE(families.ok()) << families.status();
  ASSERT_EQ(families->at(0).metric.size(), 2u);
  EXPECT_EQ(families->at(0).metric[1].label.at(0).value, "2");
  auto merged = MergeCarriedForward(*families, *families);
  EXPECT_EQ(merged.at(0).metric[1].counter.value, 6);
}

TEST(ParseMetricsTextTest, RejectsWhatItDoesNotWrite) {
  struct Case {
    const char* text;
    const char* error;
  } cases[] = {
      {"x 1\n", "line 1: sample x without a TYPE line"},
      {"# TYPE s summary\n", "line 1: unsupported type 'summary' of s"},
      {"# TYPE c counter\nc -1\n", "line 2: negative or NaN counter c"},
      {"# TYPE c counter\nc abc\n", "line 2: bad value of c"},
      {"# TYPE c counter\nc{a=\"\\x\"} 1\n", "line 2: bad escape"},
      {"# TYPE c counter\nc{a=1} 1\n", "line 2: malformed labels of c"},
      {"# TYPE c counter\nc\n", "line 2: no value for c"},
      {"# TYPE c counter\n# TYPE c counter\n", "line 2: second TYPE line for c"},
      {"# TYPE h histogram\nh_bucket 1\n", "line 2: bucket of h_bucket without le"},
      {"# TYPE h histogram\nh 1\n", "line 2: histogram h sample without"},
      {"# TYPE 9x counter\n", "line 1: bad metric name '9x'"},
      {"{} 1\n", "line 1: bad metric name"},
  };
  for (const Case& c : cases) {
    auto result = ParseMetricsText(c.text);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(result.status().message(), HasSubstr(c.error)) << c.text;
  }
}

TEST(MergeCarriedForwardTest, HistogramWithOtherBucketsKeepsCurrentValues) {
  auto previous = ParseMetricsText(
      "# TYPE h histogram\nh_bucket{le=\"5\"} 9\nh_bucket{le=\"+Inf\"} 9\nh_sum 9\nh_count 9\n"
      "# TYPE g gauge\ng 1\n# TYPE c gauge\nc 1\n# TYPE k counter\nk 4\n");
  auto current = ParseMetricsText(
      "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"
      "# TYPE c counter\nc 2\n");
  ASSERT_TRUE(previous.ok() && current.ok());
  auto merged = MergeCarriedForward(*previous, *current);
  ASSERT_EQ(merged.size(), 4u);  // g and k are kept as they were; the gauge c is dropped
  EXPECT_EQ(merged[0].metric.at(0).histogram.sample_count, 1u);
  EXPECT_EQ(merged[1].name, "c");
  ASSERT_EQ(merged[1].metric.size(), 1u);
  EXPECT_EQ(merged[1].metric.at(0).counter.value, 2);
  EXPECT_EQ(merged[2].name, "g");
  EXPECT_EQ(merged[2].metric.at(0).gauge.value, 1);
  EXPECT_EQ(merged[3].name, "k");
  EXPECT_EQ(merged[3].metric.at(0).counter.value, 4);
}

}  // namespace
}  // namespace arca::metrics
