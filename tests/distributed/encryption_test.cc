// Distributed mode on an encrypted repository (services/README.md,
// "Encryption"): the repository is made by the real `arca init --encryption
// aes-256-gcm --new-key-file K`, the uploaders alone get K (--key-file), the
// chunker fetches the id key (Uploader.GetChunkIdKey), the compressors and
// the collector hold nothing. Backup → restore → compare, an unchanged
// re-backup (the collector reads the parent's metadata through the
// uploader) and its restore, remote verify (on the uploader) and embedded
// verify with the key file; then every stored byte is searched for the
// plaintext of a known file. And: an uploader without --key-file refuses
// an encrypted repository (exit 4, naming --key-file).
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "libs/base/phase_status.h"
#include "libs/fs/testing/awkward_tree.h"
#include "libs/fs/testing/tree_compare.h"
#include "tests/distributed/pipeline_cluster.h"

namespace arca::distributed {
namespace {

namespace stdfs = std::filesystem;

// Found nowhere but in the marker file's content (not in any path).
constexpr char kMarker[] = "arca-distributed-plaintext-marker-6f1c0e";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The number after "key": in a JSON document (protobuf prints 64-bit
// integers as strings); -1 when absent.
double JsonNumber(const std::string& json, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  size_t pos = json.find(needle);
  if (pos == std::string::npos) return -1;
  pos += needle.size();
  while (pos < json.size() && (json[pos] == ' ' || json[pos] == '"')) ++pos;
  return std::strtod(json.c_str() + pos, nullptr);
}

// Every regular file below `root` whose bytes contain `needle`.
std::vector<std::string> FilesContaining(const std::string& root, const std::string& needle,
                                         int* files) {
  std::vector<std::string> hits;
  *files = 0;
  for (const auto& e : stdfs::recursive_directory_iterator(root)) {
    if (e.is_symlink() || !e.is_regular_file()) continue;
    ++*files;
    if (ReadAll(e.path().string()).find(needle) != std::string::npos) {
      hits.push_back(e.path().string());
    }
  }
  return hits;
}

TEST(DistributedEncryption, RoundTripVerifyAndNoPlaintextAtRest) {
  const std::string src = NewTempDir("awkward");
  testing::AwkwardTreeOptions tree;
  tree.large_file_bytes = 4u << 20;
  absl::Status made = testing::MakeAwkwardTree(src, tree);
  ASSERT_TRUE(made.ok()) << made;
  // A known file: its content is the marker, many times (several chunks
  // would hold it if it were stored in the clear).
  std::string marked;
  for (int i = 0; i < 20000; ++i) absl::StrAppend(&marked, kMarker, " ", i, "\n");
  {
    std::ofstream out(src + "/known.txt", std::ios::binary);
    out << marked;
  }
  int source_files = 0;
  ASSERT_FALSE(FilesContaining(src, kMarker, &source_files).empty())
      << "the plaintext is in the source";

  const std::string key_file = NewTempDir("key") + "/uploader.key";
  const std::string repo = NewTempDir("repo") + "/repo";
  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster =
      PipelineCluster::Start(repo, {.uploaders = 2,
                                    .compressors = 2,
                                    .uploader_args = {"--key-file", key_file},
                                    .init_args = {"--encryption", "aes-256-gcm", "--new-key-file",
                                                  key_file, "--compression", "none"}});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;
  // The key file's secret is in no log.
  const std::string secret = ReadAll(key_file);
  ASSERT_FALSE(secret.empty());

  // --- backup, restore, compare ---------------------------------------------------
  JobOutcome first = c.RunBackup(c.BackupPlan(src));
  ASSERT_TRUE(first.status.ok()) << first.Describe() << c.chunker().Stderr()
                                 << c.uploader(0).Stderr();
  ASSERT_TRUE(first.result.has_value()) << first.Describe();
  EXPECT_EQ(first.result->exit_code(), 0) << first.Describe();
  EXPECT_GT(first.result->stats().chunks_new(), 5u) << first.Describe();
  const std::string id1 = first.result->snapshot();

  const std::string target = NewTempDir("restored") + "/tree";
  JobOutcome restore = c.RunRestore(c.RestorePlan(id1, target));
  ASSERT_TRUE(restore.status.ok())
      << restore.Describe() << c.chunker().Stderr() << c.collector().Stderr();
  std::vector<std::string> diffs = testing::CompareTrees(src, target);
  EXPECT_TRUE(diffs.empty()) << absl::StrJoin(diffs, "\n");

  // --- unchanged re-backup: the parent's metadata read by the collector -------------
  JobOutcome second = c.RunBackup(c.BackupPlan(src));
  ASSERT_TRUE(second.status.ok()) << second.Describe() << c.chunker().Stderr()
                                  << c.collector().Stderr();
  ASSERT_TRUE(second.result.has_value());
  EXPECT_EQ(second.result->stats().parent_snapshot(), id1) << second.Describe();
  EXPECT_GT(second.result->stats().files_reused(), 100u) << second.Describe();
  const std::string target2 = NewTempDir("restored2") + "/tree";
  // Decoded in the chunker this time (no compressor): DecodeOpenedChunkBlob
  // with the id key.
  v1::RestorePlan local_plan = c.RestorePlan(second.result->snapshot(), target2);
  local_plan.clear_compressors();
  JobOutcome restore2 = c.RunRestore(local_plan);
  ASSERT_TRUE(restore2.status.ok()) << restore2.Describe();
  diffs = testing::CompareTrees(src, target2);
  EXPECT_TRUE(diffs.empty()) << absl::StrJoin(diffs, "\n");

  // --- verify: remote (on the uploader, with its key) and embedded ------------------
  std::unique_ptr<ServiceProcess> orch = StartOrchestrator(c, 2, 2);
  ASSERT_NE(orch, nullptr);
  RunResult remote_verify = Remote(*orch, {"verify"});
  EXPECT_EQ(remote_verify.exit_code, 0) << remote_verify.Describe();
  RunResult verify = RunProgram({ArcaBinary(), "verify", "--repo", repo, "--key-file", key_file});
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();
  // Without the key the repository's frames still check (and nothing opens).
  RunResult no_key = RunProgram({ArcaBinary(), "verify", "--repo", repo, "--no-key"});
  EXPECT_EQ(no_key.exit_code, 0) << no_key.Describe();

  // --- the same chunks as the embedded mode ---------------------------------------
  // An embedded backup of the same tree into the same repository, reading
  // every file: the distributed chunker cut and named the chunks exactly as
  // the embedded one does (the key's gear table and keyed ids), so nothing
  // but the metadata stream's last chunks is new.
  RunResult embedded =
      RunProgram({ArcaBinary(), "backup", src, "--repo", repo, "--key-file", key_file, "--host",
                  "testhost", "--change-detection", "data", "--json"});
  ASSERT_EQ(embedded.exit_code, 0) << embedded.Describe();
  EXPECT_EQ(JsonNumber(embedded.out, "files_reused"), 0) << embedded.out;
  EXPECT_LE(JsonNumber(embedded.out, "chunks_new"), 2) << embedded.out;
  EXPECT_GE(JsonNumber(embedded.out, "chunks_new"), 0) << embedded.out;

  // --- no plaintext at rest ----------------------------------------------------------
  int repo_files = 0;
  std::vector<std::string> hits = FilesContaining(repo, kMarker, &repo_files);
  EXPECT_GT(repo_files, 10);
  EXPECT_TRUE(hits.empty()) << "plaintext found in: " << absl::StrJoin(hits, ", ");
  // ... while a chunk of it is a chunk of the plaintext (the marker file was
  // stored, and restored above).
  EXPECT_EQ(ReadAll(target + "/known.txt"), marked);

  // The key file's secret never reached a log.
  const std::string secret_hex = secret.substr(secret.rfind(' ') + 1, 64);
  for (ServiceProcess* p : {&c.uploader(0), &c.uploader(1), &c.chunker(), &c.collector(),
                            &c.compressor(0), &c.compressor(1)}) {
    EXPECT_EQ(p->Stderr().find(secret_hex), std::string::npos);
  }
  EXPECT_NE(c.uploader(0).Stderr().find("is encrypted"), std::string::npos)
      << c.uploader(0).Stderr();
}

// A flipped bit in a sealed chunk: the uploader's GetChunks does not open it
// (DATA_LOSS naming the chunk), the restore goes on past the damaged file
// and ends with DATA_LOSS (exit 8), as for a plaintext repository.
TEST(DistributedEncryption, DamagedSealedChunkIsDataLossAndTheRestoreGoesOn) {
  const std::string dir = NewTempDir("damage");
  const std::string key_file = dir + "/k";
  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster = PipelineCluster::Start(
      dir + "/repo", {.uploaders = 1,
                      .compressors = 1,
                      .uploader_args = {"--key-file", key_file},
                      .init_args = {"--encryption", "aes-256-gcm", "--new-key-file", key_file}});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  PipelineCluster& c = **cluster;
  const std::string src = NewTempDir("src");
  std::mt19937_64 rng(7);
  for (const char* name : {"a.bin", "b.bin", "c.bin"}) {
    std::string data(4 << 20, '\0');
    for (char& ch : data) ch = static_cast<char>(rng());
    std::ofstream(src + "/" + name, std::ios::binary) << data;
  }
  JobOutcome backup = c.RunBackup(c.BackupPlan(src));
  ASSERT_TRUE(backup.status.ok()) << backup.Describe() << c.chunker().Stderr();

  // The largest chunk file: data of one of the files.
  std::string victim;
  uintmax_t size = 0;
  for (const auto& e : stdfs::recursive_directory_iterator(c.repo() + "/chunks")) {
    if (e.is_regular_file() && e.file_size() > size) {
      size = e.file_size();
      victim = e.path().string();
    }
  }
  ASSERT_FALSE(victim.empty());
  std::string bytes = ReadAll(victim);
  bytes[bytes.size() / 2] ^= 0x01;
  std::ofstream(victim, std::ios::binary | std::ios::trunc) << bytes;
  const std::string hex = stdfs::path(victim).filename().string().substr(0, 64);

  const std::string target = NewTempDir("restored") + "/t";
  JobOutcome restore = c.RunRestore(c.RestorePlan("latest", target));
  EXPECT_EQ(restore.status.code(), absl::StatusCode::kDataLoss) << restore.Describe();
  EXPECT_EQ(ExitCodeOf(restore.status), ExitCode::kVerification) << restore.Describe();
  ASSERT_GE(restore.warnings.size(), 1u) << restore.Describe();
  std::string said = restore.status.ToString();
  for (const v1::Warning& w : restore.warnings) {
    EXPECT_TRUE(w.data_missing()) << w.ShortDebugString();
    said += w.message();
  }
  EXPECT_NE(said.find(hex), std::string::npos) << "names the chunk " << hex << ": " << said;
  // The other files are whole.
  int whole = 0;
  for (const char* name : {"a.bin", "b.bin", "c.bin"}) {
    whole += ReadAll(target + "/" + name) == ReadAll(src + "/" + name) ? 1 : 0;
  }
  EXPECT_GE(whole, 1);
  EXPECT_TRUE(c.CheckAllServing().ok());
  RunResult verify =
      RunProgram({ArcaBinary(), "verify", "--repo", c.repo(), "--key-file", key_file});
  EXPECT_EQ(verify.exit_code, 8) << verify.Describe();
}

TEST(DistributedEncryption, UploaderWithoutKeyFileRefusesEncryptedRepository) {
  const std::string dir = NewTempDir("nokey");
  const std::string repo = dir + "/repo";
  const std::string key_file = dir + "/k";
  RunResult init = RunProgram({ArcaBinary(), "init", "--repo", repo, "--encryption", "aes-256-gcm",
                               "--new-key-file", key_file});
  ASSERT_EQ(init.exit_code, 0) << init.Describe();
  RunResult r = RunProgram(
      {Runfile("services/uploader/uploader"), "--repo", repo, "--insecure", "--listen=127.0.0.1:0"},
      absl::Seconds(60));
  EXPECT_EQ(r.exit_code, 4) << r.Describe();
  EXPECT_NE(r.err.find("--key-file"), std::string::npos) << r.Describe();
  EXPECT_NE(r.err.find("encrypted"), std::string::npos) << r.Describe();

  // Another repository's key file: refused too (exit 4), nothing served.
  const std::string other = dir + "/other";
  const std::string other_key = dir + "/other.key";
  ASSERT_EQ(RunProgram({ArcaBinary(), "init", "--repo", other, "--encryption", "aes-256-gcm",
                        "--new-key-file", other_key})
                .exit_code,
            0);
  r = RunProgram({Runfile("services/uploader/uploader"), "--repo", repo, "--insecure",
                  "--listen=127.0.0.1:0", "--key-file", other_key},
                 absl::Seconds(60));
  EXPECT_EQ(r.exit_code, 4) << r.Describe();

  // A key file that is not one: a usage error (exit 2) before anything opens.
  {
    std::ofstream bad(dir + "/bad.key");
    bad << "not a key file\n";
  }
  r = RunProgram({Runfile("services/uploader/uploader"), "--repo", repo, "--insecure",
                  "--listen=127.0.0.1:0", "--key-file", dir + "/bad.key"},
                 absl::Seconds(60));
  EXPECT_EQ(r.exit_code, 2) << r.Describe();
}

}  // namespace
}  // namespace arca::distributed
