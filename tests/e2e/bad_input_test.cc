// Bad input to the CLI and a damaged repository: clear errors with the
// documented exit codes, never a crash. Also runs under ASan/UBSan in CI.
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/e2e/arca_runner.h"

namespace arca::e2e {
namespace {

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = NewTempDir("src");
    std::filesystem::create_directories(src_ + "/sub/deeper");
    std::filesystem::create_directories(src_ + "/skipdir");
    WriteFile(src_ + "/keep.txt", "keep\n");
    WriteFile(src_ + "/debug.log", "log\n");
    WriteFile(src_ + "/sub/deeper/trace.log", "log\n");
    WriteFile(src_ + "/sub/deeper/data.bin", std::string(100000, 'd'));
    WriteFile(src_ + "/skipdir/inner.txt", "inner\n");
    WriteFile(src_ + "/sub/cache.tmp", "tmp\n");
    repo_ = NewTempDir("repo") + "/repo";
    ASSERT_EQ(RunArca({"init", "--repo", repo_}).exit_code, 0);
  }

  std::string BackupOk() {
    RunResult r = RunArca({"backup", src_, "--repo", repo_});
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    return FirstLine(r.out);
  }

  std::string SnapshotFile(const std::string& id, const std::string& name) {
    return repo_ + "/snapshots/" + id + "/" + name;
  }

  std::string src_, repo_;
};

TEST_F(BadInputTest, MissingSourceExits9) {
  RunResult r = RunArca({"backup", src_ + "/does-not-exist", "--repo", repo_});
  EXPECT_EQ(r.exit_code, 9) << r.Describe();
  EXPECT_NE(r.err.find("does-not-exist"), std::string::npos) << r.Describe();
  EXPECT_NE(r.err.find("collection"), std::string::npos) << r.Describe();
  RunResult list = RunArca({"snapshots", "--repo", repo_, "--json"});
  EXPECT_EQ(list.out.find("\"id\""), std::string::npos) << "no snapshot may be written";
}

TEST_F(BadInputTest, ExcludedPathsAreAbsent) {
  WriteFile(src_ + "/excludes.txt", "# comment\n*.tmp\n\n");
  RunResult r = RunArca({"backup", src_, "--repo", repo_, "--exclude", "*.log", "--exclude",
                         "/skipdir", "--exclude-file", src_ + "/excludes.txt"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  RunResult ls = RunArca({"ls", FirstLine(r.out), "--repo", repo_, "--json"});
  ASSERT_EQ(ls.exit_code, 0) << ls.Describe();
  EXPECT_NE(ls.out.find("\"keep.txt\""), std::string::npos) << ls.out;
  EXPECT_NE(ls.out.find("\"sub/deeper/data.bin\""), std::string::npos) << ls.out;
  for (const char* gone : {"debug.log", "trace.log", "skipdir", "inner.txt", "cache.tmp"}) {
    EXPECT_EQ(ls.out.find(gone), std::string::npos) << gone << " should be excluded:\n" << ls.out;
  }
}

TEST_F(BadInputTest, InvalidOptionsExit2NamingTheValue) {
  struct Case {
    std::vector<std::string> extra;
    std::string needle;
  } cases[] = {
      {{"--compression", "lz4"}, "lz4"},
      {{"--level", "99"}, "99"},
      {{"--level", "abc"}, "abc"},
      {{"--exclude", "[unclosed"}, "[unclosed"},
      {{"--command", "noequals"}, "noequals"},
      {{"--space-safety-factor", "0.5"}, "0.5"},
      {{"--bogus-flag"}, "--bogus-flag"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"backup", src_, "--repo", repo_};
    args.insert(args.end(), c.extra.begin(), c.extra.end());
    RunResult r = RunArca(args);
    EXPECT_EQ(r.exit_code, 2) << c.needle << "\n" << r.Describe();
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << r.Describe();
  }
  EXPECT_EQ(RunArca({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(RunArca({"restore", "nope-snapshot", NewTempDir("t"), "--repo", repo_}).exit_code, 2);
}

TEST_F(BadInputTest, MissingOrIncompatibleRepositoryExits4) {
  RunResult r = RunArca({"backup", src_, "--repo", src_ + "/no-repo-here"});
  EXPECT_EQ(r.exit_code, 4) << r.Describe();
  EXPECT_NE(r.err.find("arca init"), std::string::npos) << r.Describe();
  RunResult env = RunArca({"snapshots"}, {"ARCA_REPO=" + repo_});
  EXPECT_EQ(env.exit_code, 0) << env.Describe();
  std::string config = ReadFile(repo_ + "/config");
  size_t pos = config.find("\"format_version\": 1");
  ASSERT_NE(pos, std::string::npos) << config;
  config.replace(pos, std::string("\"format_version\": 1").size(), "\"format_version\": 99");
  WriteFile(repo_ + "/config", config);
  RunResult newer = RunArca({"snapshots", "--repo", repo_});
  EXPECT_EQ(newer.exit_code, 4) << newer.Describe();
  EXPECT_NE(newer.err.find("99"), std::string::npos) << newer.Describe();
  WriteFile(repo_ + "/config", "{ not json");
  EXPECT_EQ(RunArca({"snapshots", "--repo", repo_}).exit_code, 4);
}

// A repository named by a URL arca does not know: exit 2 naming the scheme,
// and no local directory "s3:" appears (it used to be created).
TEST_F(BadInputTest, RepositoryWithAnUnknownSchemeExits2) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"init", "--repo", "gs://bucket/prefix"},
        std::vector<std::string>{"backup", src_, "--repo", "sftp://host/dir"},
        std::vector<std::string>{"snapshots", "--repo", "gs://bucket"}}) {
    RunResult r = RunArca(args);
    EXPECT_EQ(r.exit_code, 2) << r.Describe();
    EXPECT_NE(r.err.find("unknown scheme"), std::string::npos) << r.Describe();
  }
  RunResult env = RunArca({"snapshots"}, {"ARCA_REPO=gs://bucket"});
  EXPECT_EQ(env.exit_code, 2) << env.Describe();
  EXPECT_FALSE(std::filesystem::exists("gs:")) << "a local directory named after the scheme";
}

// s3:// without an endpoint or credentials, or with bad S3 flags, is a usage
// error (exit 2) naming what to set, before anything is contacted.
TEST_F(BadInputTest, S3RepositoryWithoutEndpointOrCredentialsExits2) {
  RunResult no_endpoint =
      RunArca({"init", "--repo", "s3://bucket/prefix"},
              {"AWS_ENDPOINT_URL=", "AWS_ACCESS_KEY_ID=k", "AWS_SECRET_ACCESS_KEY=s"});
  EXPECT_EQ(no_endpoint.exit_code, 2) << no_endpoint.Describe();
  EXPECT_NE(no_endpoint.err.find("AWS_ENDPOINT_URL"), std::string::npos) << no_endpoint.Describe();
  RunResult no_keys = RunArca(
      {"snapshots", "--repo", "s3://bucket"},
      {"AWS_ENDPOINT_URL=http://127.0.0.1:9", "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY="});
  EXPECT_EQ(no_keys.exit_code, 2) << no_keys.Describe();
  EXPECT_NE(no_keys.err.find("AWS_SECRET_ACCESS_KEY"), std::string::npos) << no_keys.Describe();
  RunResult bad_flag = RunArca(
      {"snapshots", "--repo", "s3://bucket", "--s3-addressing", "sideways"},
      {"AWS_ENDPOINT_URL=http://127.0.0.1:9", "AWS_ACCESS_KEY_ID=k", "AWS_SECRET_ACCESS_KEY=s"});
  EXPECT_EQ(bad_flag.exit_code, 2) << bad_flag.Describe();
  EXPECT_NE(bad_flag.err.find("--s3-addressing"), std::string::npos) << bad_flag.Describe();
  EXPECT_FALSE(std::filesystem::exists("s3:")) << "a local directory named after the scheme";
}

TEST_F(BadInputTest, CorruptIndexIsCorruptionNotACrash) {
  std::string id = BackupOk();
  std::string index = SnapshotFile(id, "payload.aidx");
  std::string data = ReadFile(index);
  data[data.size() / 2] ^= 0x40;
  WriteFile(index, data);
  RunResult verify = RunArca({"verify", "--repo", repo_});
  EXPECT_EQ(verify.exit_code, 8) << verify.Describe();
  EXPECT_NE(verify.err.find("payload.aidx"), std::string::npos) << verify.Describe();
  RunResult restore = RunArca({"restore", id, NewTempDir("t"), "--repo", repo_});
  EXPECT_EQ(restore.exit_code, 8) << restore.Describe();
  // Truncated and emptied indexes.
  WriteFile(index, data.substr(0, 20));
  EXPECT_EQ(RunArca({"verify", "--repo", repo_}).exit_code, 8);
  WriteFile(index, "");
  EXPECT_EQ(RunArca({"ls", id, "--repo", repo_}).exit_code, 8);
  std::filesystem::remove(SnapshotFile(id, "metadata.aidx"));
  RunResult missing = RunArca({"verify", "--repo", repo_});
  EXPECT_EQ(missing.exit_code, 8) << missing.Describe();
  EXPECT_NE(missing.err.find("metadata.aidx"), std::string::npos) << missing.Describe();
}

TEST_F(BadInputTest, CorruptManifestIsCorruptionNotACrash) {
  std::string id = BackupOk();
  std::string manifest = SnapshotFile(id, "manifest.json");
  std::string data = ReadFile(manifest);
  for (const std::string& bad :
       {data.substr(0, data.size() / 2), std::string("\x00\xff garbage", 10), std::string("[]"),
        std::string("{\"indexes\": 7}")}) {
    WriteFile(manifest, bad);
    RunResult verify = RunArca({"verify", "--repo", repo_});
    EXPECT_EQ(verify.exit_code, 8) << verify.Describe();
    EXPECT_NE(verify.err.find("manifest.json"), std::string::npos) << verify.Describe();
    RunResult restore = RunArca({"restore", "latest", NewTempDir("t"), "--repo", repo_});
    EXPECT_NE(restore.exit_code, 0) << restore.Describe();
    EXPECT_LT(restore.exit_code, 128) << "crashed: " << restore.Describe();
  }
}

TEST_F(BadInputTest, CommandsStoredCriticalFailureStopsOrdinaryWarns) {
  RunResult ok = RunArca({"backup", src_, "--repo", repo_, "--command", "hello=echo hello world",
                          "--critical-command", "kernel=uname -s"});
  ASSERT_EQ(ok.exit_code, 0) << ok.Describe();
  std::string id = FirstLine(ok.out);
  RunResult cat = RunArca({"cat", id, "--command", "hello", "--repo", repo_});
  EXPECT_EQ(cat.exit_code, 0) << cat.Describe();
  EXPECT_EQ(cat.out, "hello world\n");
  EXPECT_EQ(RunArca({"cat", id, "--command", "kernel", "--repo", repo_}).out, "Linux\n");
  EXPECT_EQ(RunArca({"cat", id, "--command", "nope", "--repo", repo_}).exit_code, 2);

  RunResult critical = RunArca(
      {"backup", src_, "--repo", repo_, "--critical-command", "check=echo broken >&2; exit 4"});
  EXPECT_EQ(critical.exit_code, 9) << critical.Describe();
  EXPECT_NE(critical.err.find("check"), std::string::npos) << critical.Describe();
  EXPECT_NE(critical.err.find("broken"), std::string::npos) << critical.Describe();

  RunResult warn =
      RunArca({"backup", src_, "--repo", repo_, "--command", "flaky=exit 1", "--json"});
  EXPECT_EQ(warn.exit_code, 3) << warn.Describe();
  EXPECT_NE(warn.out.find("commands/flaky"), std::string::npos) << warn.Describe();
  EXPECT_FALSE(JsonStringValue(warn.out, "snapshot").empty()) << "the snapshot is still written";
}

TEST_F(BadInputTest, NotEnoughSpaceExits5WithBothNumbers) {
  // A 2 MiB tmpfs holds the repository; the source needs more.
  std::string mnt = NewTempDir("small_fs");
  if (mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=2m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here (" << strerror(errno) << ")";
  }
  std::string repo = mnt + "/repo";
  ASSERT_EQ(RunArca({"init", "--repo", repo}).exit_code, 0);
  std::string big = NewTempDir("bigsrc");
  std::mt19937_64 rng(3);
  std::string data(3 << 20, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  WriteFile(big + "/random.bin", data);
  RunResult r = RunArca({"backup", big, "--repo", repo});
  umount(mnt.c_str());
  EXPECT_EQ(r.exit_code, 5) << r.Describe();
  EXPECT_NE(r.err.find(std::to_string(3 << 20)), std::string::npos) << r.Describe();
  EXPECT_NE(r.err.find("free"), std::string::npos) << r.Describe();
}

}  // namespace
}  // namespace arca::e2e
