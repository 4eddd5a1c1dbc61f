// `arca --orchestrator=ADDR backup|restore|verify --metrics-textfile PATH`:
// the five real service binaries on loopback, the real arca CLI in remote
// mode, the real promtool. The textfile is built from the job's final state
// (type, exit code, failed phase, times, statistics) and carried forward
// like the embedded CLI's.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "libs/base/subprocess.h"
#include "tests/e2e/arca_runner.h"

namespace arca::e2e {
namespace {

double Sample(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, series + " ")) continue;
    double v;
    if (absl::SimpleAtod(line.substr(series.size() + 1), &v)) return v;
  }
  return -1;
}

std::string ServiceBinary(const std::string& name) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const std::string base = srcdir ? srcdir : ".";
  for (const char* ws : {"/arca", "/_main"}) {
    std::string p = absl::StrCat(base, ws, "/services/", name, "/", name);
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return absl::StrCat(base, "/arca/services/", name, "/", name);
}

// One service process: stdout and stderr go to a log file; the address is
// read from its "listening on HOST:PORT" line (started on port 0).
class Service {
 public:
  static std::unique_ptr<Service> Start(const std::string& name, std::vector<std::string> args) {
    auto s = std::unique_ptr<Service>(new Service);
    s->log_ = NewTempDir(name) + "/log";
    SubprocessOptions spawn;
    spawn.argv = {ServiceBinary(name)};
    spawn.argv.insert(spawn.argv.end(), args.begin(), args.end());
    // Both appending to one new file, so that neither overwrites the other.
    spawn.stdout_output = SubprocessOutput::File(s->log_, /*append=*/true);
    spawn.stderr_output = SubprocessOutput::File(s->log_, /*append=*/true);
    absl::StatusOr<std::unique_ptr<Subprocess>> child = Subprocess::Start(spawn);
    if (!child.ok()) {
      ADD_FAILURE() << child.status();
      return nullptr;
    }
    s->process_ = std::move(*child);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      std::string log = ReadFileQuiet(s->log_);
      const size_t at = log.find("listening on ");
      const size_t end = at == std::string::npos ? at : log.find('\n', at);
      if (end != std::string::npos) {
        s->address_ = log.substr(at + 13, end - at - 13);
        return s;
      }
      if (s->process_->Wait(absl::ZeroDuration()).ok()) {
        ADD_FAILURE() << name << " exited early:\n" << log;
        return nullptr;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << name << " did not print its address:\n" << ReadFileQuiet(s->log_);
    return nullptr;
  }

  ~Service() {
    if (process_ != nullptr) process_->Terminate(absl::Seconds(30)).IgnoreError();
  }

  const std::string& address() const { return address_; }

 private:
  Service() = default;
  static std::string ReadFileQuiet(const std::string& path) {
    std::string out;
    int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0) return out;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
    close(fd);
    return out;
  }

  std::unique_ptr<Subprocess> process_;
  std::string log_;
  std::string address_;
};

class RemoteTextfileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(access("/usr/bin/promtool", X_OK), 0);
    src_ = NewTempDir("src");
    WriteFile(src_ + "/a.txt", "hello\n");
    WriteFile(src_ + "/b.bin", std::string(200000, 'b'));
    repo_ = NewTempDir("repo") + "/repo";
    ASSERT_EQ(RunArca({"init", "--repo", repo_}).exit_code, 0);
    prom_ = NewTempDir("textfile") + "/arca.prom";
    const std::string local = "--listen=127.0.0.1:0";
    uploader_ = Service::Start("uploader", {"--repo", repo_, local, "--insecure"});
    ASSERT_NE(uploader_, nullptr);
    compressor_ = Service::Start("compressor", {local, "--insecure"});
    ASSERT_NE(compressor_, nullptr);
    chunker_ = Service::Start("chunker", {local, "--insecure", "--peer-insecure"});
    ASSERT_NE(chunker_, nullptr);
    // The collector may read and write below TEST_TMPDIR (every NewTempDir).
    const char* tmp = std::getenv("TEST_TMPDIR");
    const std::string roots = tmp ? tmp : "/tmp";
    collector_ = Service::Start("collector", {local, "--insecure", "--peer-insecure",
                                              "--source-root", roots, "--restore-root", roots});
    ASSERT_NE(collector_, nullptr);
    orchestrator_ = Service::Start(
        "orchestrator", {local, "--insecure", "--client-insecure", "--collector",
                         collector_->address(), "--chunker", chunker_->address(), "--compressor",
                         compressor_->address(), "--uploader", uploader_->address()});
    ASSERT_NE(orchestrator_, nullptr);
  }

  void TearDown() override {
    orchestrator_.reset();
    collector_.reset();
    chunker_.reset();
    compressor_.reset();
    uploader_.reset();
  }

  RunResult Remote(std::vector<std::string> args) {
    args.insert(args.begin(), {"--orchestrator=" + orchestrator_->address(), "--insecure"});
    return RunArca(args);
  }

  std::string src_, repo_, prom_;
  std::unique_ptr<Service> uploader_, compressor_, chunker_, collector_, orchestrator_;
};

TEST_F(RemoteTextfileTest, JobsOfTheOrchestratorAreWrittenAndCarriedForward) {
  RunResult backup = Remote({"backup", src_, "--json", "--metrics-textfile", prom_});
  ASSERT_EQ(backup.exit_code, 0) << backup.Describe();
  std::string text = ReadFile(prom_);
  RunResult check =
      RunProgram({"/bin/sh", "-c", "/usr/bin/promtool check metrics < '" + prom_ + "'"});
  EXPECT_EQ(check.exit_code, 0) << check.Describe() << "\n" << text;
  // The final job document (stdout) has the statistics.
  EXPECT_EQ(Sample(text, "arca_job_collected_bytes_total"),
            JsonNumber(backup.out, "bytes_collected"));
  EXPECT_EQ(Sample(text, "arca_job_collected_bytes_total"), 200006);
  EXPECT_EQ(Sample(text, "arca_job_new_chunks_total"), JsonNumber(backup.out, "chunks_new"));
  EXPECT_EQ(Sample(text, "arca_job_files_total"), 2);
  EXPECT_EQ(Sample(text, "arca_jobs_total{result=\"success\",type=\"backup\"}"), 1);
  const std::string snapshot = JsonStringValue(backup.out, "snapshot");
  const std::string group = snapshot.substr(0, snapshot.rfind('/'));
  ASSERT_FALSE(group.empty()) << backup.out;
  const std::string last_series =
      absl::StrCat("arca_last_success_timestamp_seconds{group=\"", group, "\"}");
  const double last = Sample(text, last_series);
  EXPECT_GT(last, 0) << text;

  // Collection failures on the collector (exit 9): one with --host, one
  // without (the orchestrator picks its own host name and reports the group
  // in Job.group), so the group is known either way.
  const std::string missing = NewTempDir("gone") + "/missing";
  // Repository::GroupName(host, missing): '/' becomes '_', [A-Za-z0-9.-] kept.
  auto group_of = [&](const std::string& host) {
    std::string group = host;
    for (char c : missing) {
      if (c == '/') {
        group += '_';
      } else if (absl::ascii_isalnum(c) || c == '.' || c == '-') {
        group += c;
      } else {
        group += absl::StrFormat("%%%02X", static_cast<unsigned char>(c));
      }
    }
    return group;
  };
  const std::string h1_group = group_of("h1");
  RunResult failed = Remote({"backup", missing, "--host", "h1", "--metrics-textfile", prom_});
  ASSERT_EQ(failed.exit_code, 9) << failed.Describe();
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof(host) - 1), 0);
  const std::string default_group = group_of(host);
  RunResult failed_default = Remote({"backup", missing, "--metrics-textfile", prom_});
  ASSERT_EQ(failed_default.exit_code, 9) << failed_default.Describe();
  RunResult verify = Remote({"verify", "--metrics-textfile", prom_});
  ASSERT_EQ(verify.exit_code, 0) << verify.Describe();
  RunResult restore =
      Remote({"restore", snapshot, NewTempDir("target") + "/out", "--metrics-textfile", prom_});
  ASSERT_EQ(restore.exit_code, 0) << restore.Describe();
  text = ReadFile(prom_);
  EXPECT_EQ(Sample(text, "arca_job_failures_total{exit_code=\"9\",phase=\"collection\"}"), 2)
      << text;
  EXPECT_EQ(Sample(text, "arca_jobs_total{result=\"success\",type=\"backup\"}"), 1);
  EXPECT_EQ(Sample(text, "arca_jobs_total{result=\"failure\",type=\"backup\"}"), 2);
  EXPECT_EQ(Sample(text, "arca_jobs_total{result=\"success\",type=\"verify\"}"), 1);
  EXPECT_EQ(Sample(text, "arca_jobs_total{result=\"success\",type=\"restore\"}"), 1);
  EXPECT_EQ(Sample(text, last_series), last);
  EXPECT_EQ(Sample(text, "arca_last_job_exit_code{group=\"" + h1_group + "\"}"), 9) << text;
  EXPECT_EQ(Sample(text, "arca_last_job_exit_code{group=\"" + default_group + "\"}"), 9) << text;
  check = RunProgram({"/bin/sh", "-c", "/usr/bin/promtool check metrics < '" + prom_ + "'"});
  EXPECT_EQ(check.exit_code, 0) << check.Describe() << "\n" << text;
}

TEST_F(RemoteTextfileTest, BadPathOrDetachExits2BeforeStartingAJob) {
  RunResult bad = Remote({"backup", src_, "--metrics-textfile", NewTempDir("x") + "/no/arca.prom"});
  EXPECT_EQ(bad.exit_code, 2) << bad.Describe();
  EXPECT_NE(bad.err.find("--metrics-textfile"), std::string::npos) << bad.err;
  RunResult detach = Remote({"verify", "--detach", "--metrics-textfile", prom_});
  EXPECT_EQ(detach.exit_code, 2) << detach.Describe();
  RunResult jobs = Remote({"jobs", "--json"});
  ASSERT_EQ(jobs.exit_code, 0) << jobs.Describe();
  EXPECT_EQ(jobs.out.find("\"id\""), std::string::npos) << "no job was started: " << jobs.out;
}

}  // namespace
}  // namespace arca::e2e
