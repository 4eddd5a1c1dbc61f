// The S3 repository backend through the real `arca` CLI (embedded mode)
// against a real Ceph RADOS Gateway on loopback (//libs/testing:rgw_server):
// round trips of the awkward tree and /usr/include with an unchanged
// re-backup storing no new chunk; a corrupted and a deleted chunk object
// found by verify (exit 8); radosgw stopped mid-backup (exit 12, nothing
// committed, the rerun reuses what was stored); wrong secret and missing
// bucket (exit 4); forget --prune and gc on s3, and gc refused beside a live
// writer lock object; 503 SlowDown answers injected by a TCP proxy in front of
// the gateway (libs/s3:fault_proxy) retried by a backup that still succeeds;
// https with and without --s3-ca, and --s3-addressing=virtual. One gateway for the
// whole binary, one bucket per test.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "libs/base/subprocess.h"
#include "libs/fs/testing/awkward_tree.h"
#include "libs/fs/testing/tree_compare.h"
#include "libs/s3/fault_proxy.h"
#include "libs/s3/s3_client.h"
#include "libs/store/writer_lock.h"
#include "libs/testing/rgw_environment.h"
#include "libs/testing/rgw_server.h"
#include "tests/e2e/arca_runner.h"

namespace arca::e2e {
namespace {

// The one gateway of this binary; its endpoint and keys are exported as
// AWS_* so every `arca` child finds them.
testing::RgwServer* Rgw() { return testing::SharedRgw(); }

std::unique_ptr<s3::S3Client> Client(const std::string& bucket) {
  s3::S3Options o;
  o.endpoint = Rgw()->endpoint();
  o.region = Rgw()->region();
  o.access_key_id = Rgw()->access_key();
  o.secret_access_key = Rgw()->secret_key();
  o.max_retries = 1;
  absl::StatusOr<std::unique_ptr<s3::S3Client>> c = s3::S3Client::Create(o, bucket);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : nullptr;
}

// Every chunk object (not .bad) under PREFIX/chunks/.
std::vector<s3::ObjectInfo> ChunkObjects(s3::S3Client& client, const std::string& prefix) {
  std::vector<s3::ObjectInfo> out;
  absl::Status st = client.ListAll(prefix + "/chunks/", [&](const s3::ObjectInfo& o) {
    if (!absl::EndsWith(o.key, ".bad")) out.push_back(o);
    return absl::OkStatus();
  });
  EXPECT_TRUE(st.ok()) << st;
  return out;
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    memcpy(&s[i], &v, 8);
  }
  return s;
}

class S3Test : public ::testing::Test {
 protected:
  // init, backup of a small tree, restore, compare and verify, every
  // command with `flags` added (another endpoint or addressing).
  void RoundTripWithFlags(const std::vector<std::string>& flags, const std::string& name,
                          uint64_t seed) {
    auto run = [&](std::vector<std::string> args) {
      args.insert(args.end(), flags.begin(), flags.end());
      return RunArca(args);
    };
    RunResult init = run({"init", "--repo", repo_});
    ASSERT_EQ(init.exit_code, 0) << init.Describe();
    const std::string src = NewTempDir(name + "-src");
    WriteFile(src + "/a.bin", RandomBytes(2 << 20, seed));
    WriteFile(src + "/b.txt", "over " + name + "\n");
    RunResult backup = run({"backup", src, "--repo", repo_, "--json"});
    ASSERT_EQ(backup.exit_code, 0) << backup.Describe();
    const std::string id = JsonStringValue(backup.out, "snapshot");
    ASSERT_FALSE(id.empty()) << backup.out;
    const std::string target = NewTempDir(name + "-restored") + "/tree";
    RunResult restore = run({"restore", id, target, "--repo", repo_});
    ASSERT_EQ(restore.exit_code, 0) << restore.Describe();
    std::vector<std::string> diffs = testing::CompareTrees(src, target);
    EXPECT_TRUE(diffs.empty()) << absl::StrJoin(diffs, "\n");
    RunResult verify = run({"verify", "--repo", repo_});
    EXPECT_EQ(verify.exit_code, 0) << verify.Describe();
  }

  void SetUp() override {
    ASSERT_NE(Rgw(), nullptr);
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    bucket_ = "t-";
    for (char ch : name) {
      if (std::isalnum(static_cast<unsigned char>(ch))) {
        bucket_ += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      }
    }
    bucket_ = bucket_.substr(0, 60);
    absl::Status made = Rgw()->CreateBucket(bucket_);
    ASSERT_TRUE(made.ok()) << made;
    repo_ = "s3://" + bucket_ + "/" + prefix_;
    client_ = Client(bucket_);
    ASSERT_NE(client_, nullptr);
  }

  void Init() {
    RunResult r = RunArca({"init", "--repo", repo_});
    ASSERT_EQ(r.exit_code, 0) << r.Describe();
  }

  RunResult Backup(const std::string& src, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"backup", src, "--repo", repo_, "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunArca(args);
  }

  std::string BackupOk(const std::string& src, RunResult* out = nullptr) {
    RunResult r = Backup(src);
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    if (out) *out = r;
    std::string id = JsonStringValue(r.out, "snapshot");
    EXPECT_FALSE(id.empty()) << r.Describe();
    return id;
  }

  // Lines of `arca snapshots` naming a snapshot id (those with a '/').
  int SnapshotCount() {
    RunResult r = RunArca({"snapshots", "--repo", repo_});
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    int n = 0;
    for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
      if (absl::StrContains(line, "/") && !absl::StartsWith(line, "ID")) n++;
    }
    return n;
  }

  // init, backup, unchanged re-backup (no new chunk), restore, compare,
  // verify. `has_hardlinks`: a tree whose hardlinked files change detection
  // always reads again (parent_snapshot.h); their payload then lands at new
  // offsets, so the re-backup's metadata stream (one chunk) is new while no
  // payload is. A re-backup with --change-detection=data reads every file
  // in the same order and must store nothing new at all.
  void RoundTrip(const std::string& src, bool has_hardlinks) {
    Init();
    RunResult first;
    const std::string id = BackupOk(src, &first);
    EXPECT_GT(JsonNumber(first.out, "chunks_new"), 0) << first.out;
    if (has_hardlinks) {
      RunResult again = Backup(src);
      ASSERT_EQ(again.exit_code, 0) << again.Describe();
      EXPECT_LE(JsonNumber(again.out, "chunks_new"), 1) << again.out;
      EXPECT_LE(JsonNumber(again.out, "bytes_new_raw"), JsonNumber(again.out, "metadata_bytes"))
          << again.out;
    }
    RunResult second = has_hardlinks ? Backup(src, {"--change-detection=data"}) : Backup(src);
    ASSERT_EQ(second.exit_code, 0) << second.Describe();
    EXPECT_EQ(JsonNumber(second.out, "chunks_new"), 0) << second.out;
    EXPECT_EQ(JsonNumber(second.out, "chunks_total"), JsonNumber(first.out, "chunks_total"))
        << first.out << "\n"
        << second.out;
    const std::string target = NewTempDir("restored") + "/tree";
    RunResult restore = RunArca({"restore", id, target, "--repo", repo_});
    ASSERT_EQ(restore.exit_code, 0) << restore.Describe();
    std::vector<std::string> diffs = testing::CompareTrees(src, target);
    EXPECT_TRUE(diffs.empty()) << absl::StrJoin(diffs, "\n");
    RunResult verify = RunArca({"verify", "--repo", repo_});
    EXPECT_EQ(verify.exit_code, 0) << verify.Describe();
  }

  std::string bucket_;
  const std::string prefix_ = "backups/e2e";
  std::string repo_;
  std::unique_ptr<s3::S3Client> client_;
};

TEST_F(S3Test, AwkwardTreeRoundTrip) {
  const std::string src = NewTempDir("awkward");
  std::vector<std::string> notes;
  testing::AwkwardTreeOptions opts;
  opts.large_file_bytes = 8u << 20;
  opts.small_files = 100;
  opts.notes = &notes;
  absl::Status made = testing::MakeAwkwardTree(src, opts);
  ASSERT_TRUE(made.ok()) << made;
  for (const std::string& n : notes) std::cerr << "awkward tree note: " << n << "\n";
  // The tree's directories and symlinks have atime <= mtime (set in the
  // past): under relatime their first listing or readlink moves their atime
  // to now, which the metadata stream records (only file contents are read
  // with O_NOATIME). Touch them twice first, so the tree is the same for
  // both backups.
  for (int i = 0; i < 2; ++i) {
    for (const auto& e : std::filesystem::recursive_directory_iterator(src)) {
      if (e.is_symlink()) (void)std::filesystem::read_symlink(e.path());
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  RoundTrip(src, /*has_hardlinks=*/true);
}

TEST_F(S3Test, UsrIncludeRoundTrip) { RoundTrip("/usr/include", /*has_hardlinks=*/false); }

TEST_F(S3Test, CorruptedAndDeletedChunkObjectsFailVerify) {
  Init();
  const std::string src = NewTempDir("src");
  WriteFile(src + "/a.bin", RandomBytes(6 << 20, 11));
  WriteFile(src + "/b.bin", RandomBytes(6 << 20, 12));
  BackupOk(src);
  std::vector<s3::ObjectInfo> chunks = ChunkObjects(*client_, prefix_);
  ASSERT_GE(chunks.size(), 4u);
  std::sort(chunks.begin(), chunks.end(),
            [](const s3::ObjectInfo& a, const s3::ObjectInfo& b) { return a.size > b.size; });
  const s3::ObjectInfo& corrupt = chunks[0];
  const s3::ObjectInfo& deleted = chunks[1];
  auto digest = [](const std::string& key) { return key.substr(key.rfind('/') + 1); };

  absl::StatusOr<std::string> data = client_->GetObject(corrupt.key);
  ASSERT_TRUE(data.ok()) << data.status();
  std::string bad = *data;
  bad[bad.size() / 2] ^= 0x5a;
  ASSERT_TRUE(client_->PutObject(corrupt.key, bad, false).ok());
  ASSERT_TRUE(client_->DeleteObject(deleted.key).ok());

  RunResult r = RunArca({"verify", "--repo", repo_});
  EXPECT_EQ(r.exit_code, 8) << r.Describe();
  EXPECT_NE(r.err.find(digest(corrupt.key)), std::string::npos) << r.Describe();
  EXPECT_NE(r.err.find(digest(deleted.key)), std::string::npos) << r.Describe();
  EXPECT_NE(r.err.find("missing"), std::string::npos) << r.Describe();
}

TEST_F(S3Test, GatewayStoppedMidBackupExits12CommitsNothingAndRerunReuses) {
  Init();
  // 24 files of 4 MiB random data (~100 chunks), uploaded at 16 MiB/s: ~6 s.
  const std::string src = NewTempDir("big");
  for (int i = 0; i < 24; ++i) {
    WriteFile(absl::StrCat(src, "/f", i, ".bin"), RandomBytes(4 << 20, 100 + i));
  }
  SubprocessOptions options;
  options.argv = {ArcaBinary(),     "backup",       src, "--repo",       repo_,
                  "--json",         "--s3-retries", "1", "--s3-timeout", "5",
                  "--limit-upload", "16M"};
  options.stdout_output = SubprocessOutput::Capture();
  options.stderr_output = SubprocessOutput::Capture();
  options.kill_with_parent = true;
  absl::StatusOr<std::unique_ptr<Subprocess>> child = Subprocess::Start(options);
  ASSERT_TRUE(child.ok()) << child.status();
  size_t stored = 0;
  for (int i = 0; i < 300 && stored < 8; ++i) {
    absl::SleepFor(absl::Milliseconds(50));
    stored = ChunkObjects(*client_, prefix_).size();
  }
  ASSERT_GE(stored, 8u) << "no chunks appeared";
  ASSERT_TRUE(Rgw()->StopGateway().ok());
  absl::StatusOr<SubprocessResult> result = (*child)->Wait(absl::Seconds(60));
  ASSERT_TRUE(Rgw()->StartGateway().ok());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 12) << result->stdout_data << "\n" << result->stderr_data;
  // --json: the failure is in the document on stdout, naming the phase,
  // the object and the endpoint.
  EXPECT_EQ(JsonStringValue(result->stdout_data, "failed_phase"), "upload") << result->stdout_data;
  const std::string error = JsonStringValue(result->stdout_data, "error");
  EXPECT_NE(error.find(Rgw()->endpoint()), std::string::npos) << result->stdout_data;
  EXPECT_NE(error.find(prefix_ + "/chunks/"), std::string::npos) << result->stdout_data;
  EXPECT_EQ(SnapshotCount(), 0);

  RunResult rerun = Backup(src);
  ASSERT_EQ(rerun.exit_code, 0) << rerun.Describe();
  const double total = JsonNumber(rerun.out, "chunks_total");
  const double fresh = JsonNumber(rerun.out, "chunks_new");
  EXPECT_GT(fresh, 0) << rerun.out;
  EXPECT_LE(fresh, total - 8) << rerun.out;
  EXPECT_EQ(SnapshotCount(), 1);
  RunResult verify = RunArca({"verify", "--repo", repo_});
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();
}

// 503 SlowDown through the CLI: `arca backup --json` talks to the gateway
// through a fault proxy that refuses the first 2 requests (opening the
// repository) and, once chunks are being uploaded, 3 more (chunk PUTs or
// whatever runs then). The backup retries them, exits 0, its
// "s3_requests" counts the retries, and the snapshot restores and verifies
// against the gateway directly.
TEST_F(S3Test, Injected503sAreRetriedByBackupAndCountedInJson) {
  Init();
  const std::string src = NewTempDir("slowdown");
  for (int i = 0; i < 8; ++i) {
    WriteFile(absl::StrCat(src, "/f", i, ".bin"), RandomBytes(2 << 20, 500 + i));
  }
  absl::StatusOr<std::unique_ptr<s3::FaultProxy>> proxy =
      s3::FaultProxy::Start("127.0.0.1", Rgw()->port());
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  (*proxy)->Arm(2);
  SubprocessOptions options;
  // 16 MiB at 8 MiB/s: about 2 s of uploads to inject into.
  options.argv = {
      ArcaBinary(),         "backup",       src, "--repo",         repo_, "--json", "--s3-endpoint",
      (*proxy)->endpoint(), "--s3-retries", "8", "--limit-upload", "8M"};
  options.stdout_output = SubprocessOutput::Capture();
  options.stderr_output = SubprocessOutput::Capture();
  options.kill_with_parent = true;
  absl::StatusOr<std::unique_ptr<Subprocess>> child = Subprocess::Start(options);
  ASSERT_TRUE(child.ok()) << child.status();
  size_t stored = 0;
  for (int i = 0; i < 400 && stored < 2; ++i) {
    absl::SleepFor(absl::Milliseconds(50));
    stored = ChunkObjects(*client_, prefix_).size();
  }
  ASSERT_GE(stored, 2u) << "no chunks appeared";
  (*proxy)->Arm(3);
  // Still uploading when the second faults were armed.
  EXPECT_TRUE(absl::IsDeadlineExceeded((*child)->Wait(absl::ZeroDuration()).status()));
  absl::StatusOr<SubprocessResult> result = (*child)->Wait(absl::Seconds(120));
  ASSERT_TRUE(result.ok()) << result.status();
  const std::string& out = result->stdout_data;
  ASSERT_EQ(result->exit_code, 0) << out << "\n" << result->stderr_data;
  EXPECT_EQ((*proxy)->refused(), 5);
  EXPECT_FALSE(JsonStringValue(out, "snapshot").empty()) << out;
  const size_t at = out.find("\"s3_requests\":");
  ASSERT_NE(at, std::string::npos) << out;
  const std::string requests = out.substr(at);
  std::cerr << "refused " << (*proxy)->refused() << "; " << requests;
  // Every refused request was retried (a connection cut by Arm may add more).
  EXPECT_GE(JsonNumber(requests, "retries"), 5) << requests;
  EXPECT_GT(JsonNumber(requests, "PutObject"), 0) << requests;
  EXPECT_GT(JsonNumber(requests, "total"), JsonNumber(requests, "retries")) << requests;

  proxy->reset();
  const std::string target = NewTempDir("slowdown-restored") + "/tree";
  RunResult restore =
      RunArca({"restore", JsonStringValue(out, "snapshot"), target, "--repo", repo_});
  ASSERT_EQ(restore.exit_code, 0) << restore.Describe();
  std::vector<std::string> diffs = testing::CompareTrees(src, target);
  EXPECT_TRUE(diffs.empty()) << absl::StrJoin(diffs, "\n");
  RunResult verify = RunArca({"verify", "--repo", repo_});
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();
}

// HTTPS through the CLI: the gateway's certificate comes from a throw-away
// CA; without --s3-ca the repository cannot be opened (exit 4, the message
// says why and what to pass), with it init, backup, restore and verify work.
TEST_F(S3Test, HttpsNeedsS3CaAndWorksWithIt) {
  const std::string https = Rgw()->https_endpoint();
  ASSERT_FALSE(https.empty());
  RunResult refused = RunArca({"init", "--repo", repo_, "--s3-endpoint", https});
  EXPECT_EQ(refused.exit_code, 4) << refused.Describe();
  EXPECT_NE(refused.err.find("TLS certificate of " + https + " not accepted"), std::string::npos)
      << refused.Describe();
  EXPECT_NE(refused.err.find("--s3-ca FILE"), std::string::npos) << refused.Describe();

  RoundTripWithFlags({"--s3-endpoint", https, "--s3-ca", Rgw()->ca_file()}, "https", 900);
  // The same repository over plain http (AWS_ENDPOINT_URL).
  EXPECT_EQ(SnapshotCount(), 1);
}

// Virtual-host addressing through the CLI: http://BUCKET.localhost:PORT
// (radosgw has rgw dns name = localhost; libcurl resolves *.localhost).
TEST_F(S3Test, VirtualHostAddressingBacksUpRestoresAndVerifies) {
  RoundTripWithFlags({"--s3-endpoint", absl::StrCat("http://localhost:", Rgw()->port()),
                      "--s3-addressing=virtual"},
                     "vhost", 901);
  // Path style sees the same objects: the bucket came from the Host header.
  EXPECT_EQ(SnapshotCount(), 1);
  EXPECT_FALSE(ChunkObjects(*client_, prefix_).empty());
}

TEST_F(S3Test, WrongSecretAndMissingBucketExit4) {
  Init();
  const std::string secret = "wrong-secret-3f9a1c7e5b";
  RunResult r = RunArca({"snapshots", "--repo", repo_}, {"AWS_SECRET_ACCESS_KEY=" + secret});
  EXPECT_EQ(r.exit_code, 4) << r.Describe();
  EXPECT_NE(r.err.find(bucket_), std::string::npos) << r.Describe();
  EXPECT_NE(r.err.find(Rgw()->endpoint()), std::string::npos) << r.Describe();
  EXPECT_EQ(r.err.find(secret), std::string::npos) << r.Describe();
  EXPECT_EQ(r.out.find(secret), std::string::npos) << r.Describe();

  const std::string src = NewTempDir("src");
  WriteFile(src + "/a", "a");
  RunResult backup = RunArca({"backup", src, "--repo", "s3://no-such-bucket-e2e/x"});
  EXPECT_EQ(backup.exit_code, 4) << backup.Describe();
  EXPECT_NE(backup.err.find("no-such-bucket-e2e"), std::string::npos) << backup.Describe();
}

TEST_F(S3Test, ForgetPruneRemovesChunksAndGcIsRefusedBesideALiveWriter) {
  Init();
  const std::string src = NewTempDir("src");
  WriteFile(src + "/a.bin", RandomBytes(4 << 20, 21));
  BackupOk(src);
  const size_t first_chunks = ChunkObjects(*client_, prefix_).size();
  WriteFile(src + "/a.bin", RandomBytes(4 << 20, 22));  // all new content
  BackupOk(src);
  const size_t both_chunks = ChunkObjects(*client_, prefix_).size();
  ASSERT_GT(both_chunks, first_chunks);

  RunResult forget = RunArca({"forget", "--repo", repo_, "--keep-last", "1", "--prune"});
  ASSERT_EQ(forget.exit_code, 0) << forget.Describe();
  EXPECT_EQ(SnapshotCount(), 1);
  const size_t after = ChunkObjects(*client_, prefix_).size();
  // The first snapshot's data chunks are gone; the kept one's remain.
  EXPECT_LE(after, both_chunks - (first_chunks - 2)) << forget.Describe();
  EXPECT_GE(after, both_chunks - first_chunks) << forget.Describe();
  RunResult verify = RunArca({"verify", "--repo", repo_});
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();

  // A live writer's lock object (this process: its pid exists).
  const std::string lock_key =
      absl::StrCat(prefix_, "/locks/", absl::GetCurrentTimeNanos(), "-", getpid(), "-e2etest.lock");
  ASSERT_TRUE(client_
                  ->PutObject(lock_key,
                              FormatWriterLockText(getpid(), WriterLockHostName(),
                                                   absl::GetCurrentTimeNanos(), "e2e backup"),
                              true)
                  .ok());
  RunResult gc = RunArca({"gc", "--repo", repo_});
  EXPECT_EQ(gc.exit_code, 4) << gc.Describe();
  EXPECT_NE(gc.err.find(lock_key), std::string::npos) << gc.Describe();
  EXPECT_NE(gc.err.find("gc needs the repository to itself"), std::string::npos) << gc.Describe();
  // The refused gc left no gc lock behind: a backup still works.
  std::vector<std::string> gc_locks;
  ASSERT_TRUE(client_
                  ->ListAll(prefix_ + "/locks/",
                            [&](const s3::ObjectInfo& o) {
                              if (absl::EndsWith(o.key, ".gc-lock")) gc_locks.push_back(o.key);
                              return absl::OkStatus();
                            })
                  .ok());
  EXPECT_TRUE(gc_locks.empty()) << absl::StrJoin(gc_locks, ", ");
  ASSERT_TRUE(client_->DeleteObject(lock_key).ok());
  RunResult gc2 = RunArca({"gc", "--repo", repo_, "--json"});
  EXPECT_EQ(gc2.exit_code, 0) << gc2.Describe();
}

}  // namespace
}  // namespace arca::e2e

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  arca::testing::RgwServerOptions options;
  options.tls = true;  // https_endpoint() and ca_file() for --s3-ca
  arca::testing::RegisterSharedRgw(options, /*export_aws_env=*/true);
  return RUN_ALL_TESTS();
}

namespace arca::e2e {
namespace {

// An encrypted repository on object storage: key slots are objects too;
// backup, restore, verify with a key file and a password; no object holds
// the plaintext; a wrong password is exit 4; verify without the key checks
// the frames; a removed key-file slot no longer opens it.
TEST_F(S3Test, EncryptedRepositoryRoundTripsAndStoresNoPlaintext) {
  const std::string dir = NewTempDir("s3enc");
  const std::string password = dir + "/password";
  WriteFile(password, "s3 password\n");
  RunResult r = RunArca({"init", "--repo", repo_, "--encryption", "aes-256-gcm", "--scrypt-n",
                         "1024", "--compression", "none", "--password-file", password});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  const std::string keyfile = dir + "/svc.key";
  r = RunArca({"key", "add", "--repo", repo_, "--new-key-file", keyfile, "--password-file",
               password});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();

  const std::string src = NewTempDir("s3enc-src");
  std::string text;
  for (int i = 0; i < 500; ++i) text += "S3-PLAINTEXT-MARKER-91c4 line\n";
  WriteFile(src + "/marker.txt", text);
  WriteFile(src + "/a.bin", RandomBytes(1 << 20, 11));
  r = RunArca({"backup", src, "--repo", repo_, "--json", "--key-file", keyfile});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  const std::string id = JsonStringValue(r.out, "snapshot");
  const std::string target = NewTempDir("s3enc-restored") + "/tree";
  r = RunArca({"restore", id, target, "--repo", repo_, "--password-file", password});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  std::vector<std::string> diffs = testing::CompareTrees(src, target);
  EXPECT_TRUE(diffs.empty()) << absl::StrJoin(diffs, "\n");
  r = RunArca({"verify", "--repo", repo_, "--key-file", keyfile});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  r = RunArca({"verify", "--repo", repo_, "--no-key", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_NE(r.out.find("\"with_key\":false"), std::string::npos) << r.out;

  // Every object: config, keys/, chunks/, snapshots/.
  int objects = 0, key_objects = 0;
  absl::Status listed = client_->ListAll(prefix_ + "/", [&](const s3::ObjectInfo& o) {
    ++objects;
    if (absl::StrContains(o.key, "/keys/")) ++key_objects;
    absl::StatusOr<std::string> body = client_->GetObject(o.key);
    EXPECT_TRUE(body.ok()) << body.status();
    if (body.ok()) {
      EXPECT_FALSE(absl::StrContains(*body, "S3-PLAINTEXT-MARKER")) << o.key;
      EXPECT_FALSE(absl::StrContains(*body, "marker.txt")) << o.key;
    }
    return absl::OkStatus();
  });
  ASSERT_TRUE(listed.ok()) << listed;
  EXPECT_GT(objects, 5);
  EXPECT_EQ(key_objects, 2);

  const std::string wrong = dir + "/wrong";
  WriteFile(wrong, "nope\n");
  r = RunArca({"snapshots", "--repo", repo_, "--password-file", wrong});
  EXPECT_EQ(r.exit_code, 4) << r.Describe();

  r = RunArca({"key", "list", "--repo", repo_, "--key-file", keyfile});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  std::string slot;
  for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
    if (absl::StartsWith(line, "*")) slot = std::string(line.substr(1, 16));
  }
  ASSERT_EQ(slot.size(), 16u) << r.out;
  r = RunArca({"key", "remove", slot, "--repo", repo_, "--password-file", password});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  r = RunArca({"snapshots", "--repo", repo_, "--key-file", keyfile});
  EXPECT_EQ(r.exit_code, 4) << r.Describe();
}

}  // namespace
}  // namespace arca::e2e
