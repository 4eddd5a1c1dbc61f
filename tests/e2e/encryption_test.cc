// Encrypted repositories end to end, through the real `arca` binary:
// the awkward tree round trip, no plaintext anywhere in the stored bytes,
// wrong keys refused with exit 4 and nothing written, tampering (a flipped
// bit, swapped blobs, a replayed manifest, a planted plaintext blob) found
// by verify with exit 8, verify without the key, and key slots (add, list,
// unlock with each, remove).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "libs/fs/testing/awkward_tree.h"
#include "libs/fs/testing/tree_compare.h"
#include "libs/hash/crc32c.h"
#include "tests/e2e/arca_runner.h"

namespace arca::e2e {
namespace {

// A file whose bytes and name must not appear in the repository.
constexpr char kMarker[] = "ARCA-PLAINTEXT-MARKER-7f3a9c: the quick brown fox guards the vault";
constexpr char kMarkerName[] = "marker-file-name-5d2e.txt";

// Every stored file of `repo` (chunks, snapshots, keys, config), read whole.
std::vector<std::pair<std::string, std::string>> StoredFiles(const std::string& repo) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& f : ListFiles(repo)) out.emplace_back(f, ReadFile(f));
  return out;
}

std::vector<std::string> ChunkFiles(const std::string& repo) {
  std::vector<std::string> out;
  for (const std::string& f : ListFiles(repo + "/chunks")) {
    if (f.find(".tmp-") == std::string::npos && f.find(".bad") == std::string::npos) {
      out.push_back(f);
    }
  }
  return out;
}

class EncryptionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    src_ = new std::string(NewTempDir("src"));
    ASSERT_TRUE(testing::MakeAwkwardTree(*src_).ok());
    std::string text;
    for (int i = 0; i < 2000; ++i) absl::StrAppend(&text, kMarker, " line ", i, "\n");
    WriteFile(*src_ + "/" + kMarkerName, text);
    dir_ = new std::string(NewTempDir("enc"));
    password_file_ = new std::string(*dir_ + "/password");
    WriteFile(*password_file_, "correct horse battery staple\n");
  }

  // A new encrypted repository with one backup of the source.
  // Uncompressed, so that any plaintext that escaped encryption would show.
  std::string NewRepository(const std::string& name, std::string* snapshot = nullptr) {
    const std::string repo = NewTempDir(name) + "/repo";
    RunResult r = RunArca({"init", "--repo", repo, "--encryption", "aes-256-gcm", "--scrypt-n",
                           "1024", "--password-file", *password_file_, "--compression", "none"});
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    r = RunArca({"backup", *src_, "--repo", repo, "--json"}, Env());
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    if (snapshot) *snapshot = JsonStringValue(r.out, "snapshot");
    return repo;
  }

  static std::vector<std::string> Env() { return {"ARCA_PASSWORD_FILE=" + *password_file_}; }

  static std::string* src_;
  static std::string* dir_;
  static std::string* password_file_;
};
std::string* EncryptionTest::src_ = nullptr;
std::string* EncryptionTest::dir_ = nullptr;
std::string* EncryptionTest::password_file_ = nullptr;

TEST_F(EncryptionTest, AwkwardTreeRoundTripsAndNoPlaintextIsStored) {
  std::string id;
  const std::string repo = NewRepository("roundtrip", &id);
  const std::string target = NewTempDir("restore") + "/t";
  RunResult r = RunArca({"restore", id, target, "--repo", repo}, Env());
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  testing::CompareOptions opts;
  std::vector<std::string> diffs = testing::CompareTrees(*src_, target, opts);
  EXPECT_TRUE(diffs.empty()) << absl::StrJoin(diffs, "\n");
  r = RunArca({"verify", "--repo", repo, "--json"}, Env());
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_NE(r.out.find("\"with_key\":true"), std::string::npos) << r.out;

  // No stored byte holds the file's content or its name (nor a file name
  // or symlink target of the awkward tree), in any file of the repository.
  size_t files = 0;
  for (const auto& [path, bytes] : StoredFiles(repo)) {
    ++files;
    EXPECT_EQ(bytes.find("ARCA-PLAINTEXT-MARKER"), std::string::npos) << path;
    EXPECT_EQ(bytes.find("quick brown fox"), std::string::npos) << path;
    EXPECT_EQ(bytes.find(kMarkerName), std::string::npos) << path;
    EXPECT_EQ(bytes.find(testing::kAwkwardSparseFile), std::string::npos) << path;
  }
  EXPECT_GT(files, 5u);

  // The same tree in a plaintext repository has other chunk names: ids are
  // keyed, so they do not say which known data is stored.
  const std::string plain = NewTempDir("plain") + "/repo";
  ASSERT_EQ(RunArca({"init", "--repo", plain, "--compression", "none"}).exit_code, 0);
  ASSERT_EQ(RunArca({"backup", *src_, "--repo", plain}).exit_code, 0);
  std::vector<std::string> a, b;
  for (const std::string& f : ChunkFiles(repo)) a.push_back(f.substr(f.rfind('/') + 1));
  for (const std::string& f : ChunkFiles(plain)) b.push_back(f.substr(f.rfind('/') + 1));
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  std::vector<std::string> common;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(common));
  EXPECT_TRUE(common.empty()) << common.size() << " chunk names shared with the plaintext repo";
  // And the plaintext repository does hold the marker (the grep can fail).
  bool found_name = false, found_content = false;
  for (const auto& [path, bytes] : StoredFiles(plain)) {
    found_name = found_name || bytes.find(kMarkerName) != std::string::npos;
    found_content = found_content || bytes.find("ARCA-PLAINTEXT-MARKER") != std::string::npos;
  }
  EXPECT_TRUE(found_name && found_content) << "the check above would pass vacuously";
}

TEST_F(EncryptionTest, WrongOrMissingKeyIsExit4AndWritesNothing) {
  const std::string repo = NewRepository("wrongkey");
  const std::vector<std::string> before = ListFiles(repo);
  const std::string wrong = *dir_ + "/wrong";
  WriteFile(wrong, "not the password\n");
  RunResult r = RunArca({"backup", *src_, "--repo", repo, "--password-file", wrong});
  EXPECT_EQ(r.exit_code, 4) << r.Describe();
  EXPECT_NE(r.err.find("the password opens none of the 1 password slot(s)"), std::string::npos)
      << r.err;
  r = RunArca({"snapshots", "--repo", repo});
  EXPECT_EQ(r.exit_code, 4) << r.Describe();
  EXPECT_NE(r.err.find("is encrypted: give its password with ARCA_PASSWORD_FILE"),
            std::string::npos)
      << r.err;
  r = RunArca({"restore", "latest", NewTempDir("nokey") + "/t", "--repo", repo, "--password-file",
               wrong});
  EXPECT_EQ(r.exit_code, 4) << r.Describe();
  EXPECT_EQ(ListFiles(repo), before) << "a refused command wrote to the repository";
  // A key file of another repository.
  const std::string other = NewTempDir("other") + "/repo";
  const std::string kf = NewTempDir("kf") + "/other.key";
  ASSERT_EQ(RunArca({"init", "--repo", other, "--encryption", "aes-256-gcm", "--new-key-file", kf})
                .exit_code,
            0);
  r = RunArca({"snapshots", "--repo", repo, "--key-file", kf});
  EXPECT_EQ(r.exit_code, 4) << r.Describe();
  EXPECT_NE(r.err.find("is not in"), std::string::npos) << r.err;
  EXPECT_EQ(ListFiles(repo), before);
}

TEST_F(EncryptionTest, FlippedBitIsExit8WithAndWithoutKey) {
  const std::string repo = NewRepository("flip");
  std::vector<std::string> chunks = ChunkFiles(repo);
  ASSERT_FALSE(chunks.empty());
  std::string bytes = ReadFile(chunks[0]);
  bytes[bytes.size() / 2] ^= 0x04;  // inside the ciphertext
  ASSERT_EQ(chmod(chunks[0].c_str(), 0644), 0);
  WriteFile(chunks[0], bytes);
  // Without the key first: with it, verify moves the damaged blob aside.
  RunResult r = RunArca({"verify", "--repo", repo, "--json", "--no-key"});
  EXPECT_EQ(r.exit_code, 8) << r.Describe();
  EXPECT_NE(r.out.find("\"with_key\":false"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("payload CRC32C"), std::string::npos) << r.out;
  r = RunArca({"verify", "--repo", repo, "--json"}, Env());
  EXPECT_EQ(r.exit_code, 8) << r.Describe();
}

TEST_F(EncryptionTest, FlipWithFixedCrcIsCaughtByTheTag) {
  // A forger who recomputes both CRC32Cs passes the check without the key;
  // the GCM tag still refuses the blob.
  const std::string repo = NewRepository("forge");
  std::vector<std::string> chunks = ChunkFiles(repo);
  ASSERT_FALSE(chunks.empty());
  std::string bytes = ReadFile(chunks[0]);
  ASSERT_GT(bytes.size(), 64u);
  bytes[50] ^= 0x01;  // inside the ciphertext
  auto put32 = [&](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<char>(v >> (8 * i));
  };
  put32(24, Crc32c(std::string_view(bytes).substr(32)));
  put32(28, Crc32c(std::string_view(bytes).substr(0, 28)));
  ASSERT_EQ(chmod(chunks[0].c_str(), 0644), 0);
  WriteFile(chunks[0], bytes);
  RunResult r = RunArca({"verify", "--repo", repo, "--no-key"});
  EXPECT_EQ(r.exit_code, 0) << "the frame is valid, only the key can tell: " << r.Describe();
  r = RunArca({"verify", "--repo", repo, "--json"}, Env());
  EXPECT_EQ(r.exit_code, 8) << r.Describe();
  EXPECT_NE(r.out.find("authentication failed"), std::string::npos) << r.out;
}

TEST_F(EncryptionTest, SwappedBlobsAndReplayedManifestAreExit8) {
  std::string first;
  const std::string repo = NewRepository("swap", &first);
  // A second, different snapshot.
  WriteFile(*src_ + "/added-later.txt", "new data for the second snapshot\n");
  RunResult r = RunArca({"backup", *src_, "--repo", repo, "--json"}, Env());
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  const std::string second = JsonStringValue(r.out, "snapshot");
  ASSERT_EQ(unlink((*src_ + "/added-later.txt").c_str()), 0);

  // Swapped blobs: two valid sealed chunks exchange names. Both frames are
  // fine (verify without the key passes), the seal binds each to its name.
  {
    const std::string copy = NewTempDir("swapcopy") + "/repo";
    ASSERT_EQ(RunProgram({"cp", "-a", repo, copy}).exit_code, 0);
    std::vector<std::string> chunks = ChunkFiles(copy);
    ASSERT_GE(chunks.size(), 2u);
    const std::string a = ReadFile(chunks[0]), b = ReadFile(chunks[1]);
    ASSERT_EQ(chmod(chunks[0].c_str(), 0644), 0);
    ASSERT_EQ(chmod(chunks[1].c_str(), 0644), 0);
    WriteFile(chunks[0], b);
    WriteFile(chunks[1], a);
    EXPECT_EQ(RunArca({"verify", "--repo", copy, "--no-key"}).exit_code, 0);
    r = RunArca({"verify", "--repo", copy, "--json"}, Env());
    EXPECT_EQ(r.exit_code, 8) << r.Describe();
    EXPECT_NE(r.out.find("authentication failed"), std::string::npos) << r.out;
  }
  // Replayed manifest: the first snapshot's manifest copied over the
  // second's (a rollback of what the second snapshot says).
  {
    const std::string copy = NewTempDir("replaycopy") + "/repo";
    ASSERT_EQ(RunProgram({"cp", "-a", repo, copy}).exit_code, 0);
    const std::string m1 = copy + "/snapshots/" + first + "/manifest.json";
    const std::string m2 = copy + "/snapshots/" + second + "/manifest.json";
    ASSERT_EQ(chmod(m2.c_str(), 0644), 0);
    WriteFile(m2, ReadFile(m1));
    r = RunArca({"verify", "--repo", copy, "--json"}, Env());
    EXPECT_EQ(r.exit_code, 8) << r.Describe();
    r = RunArca({"restore", second, NewTempDir("replayed") + "/t", "--repo", copy}, Env());
    EXPECT_EQ(r.exit_code, 8) << r.Describe();
    EXPECT_NE(r.err.find("authentication failed"), std::string::npos) << r.err;
  }
  // A plaintext (format 1) blob planted under a chunk name.
  {
    const std::string copy = NewTempDir("plantcopy") + "/repo";
    ASSERT_EQ(RunProgram({"cp", "-a", repo, copy}).exit_code, 0);
    const std::string plain = NewTempDir("plantsrc") + "/repo";
    ASSERT_EQ(RunArca({"init", "--repo", plain}).exit_code, 0);
    ASSERT_EQ(RunArca({"backup", *src_, "--repo", plain}).exit_code, 0);
    std::vector<std::string> chunks = ChunkFiles(copy);
    ASSERT_EQ(chmod(chunks[0].c_str(), 0644), 0);
    WriteFile(chunks[0], ReadFile(ChunkFiles(plain)[0]));
    r = RunArca({"verify", "--repo", copy, "--json", "--no-key"});
    EXPECT_EQ(r.exit_code, 8) << r.Describe();
    EXPECT_NE(r.out.find("not an encrypted blob"), std::string::npos) << r.out;
  }
}

TEST_F(EncryptionTest, KeySlotsAddListUnlockRemove) {
  const std::string repo = NewRepository("keys");
  const std::string kdir = NewTempDir("keys");
  const std::string second = kdir + "/second";
  WriteFile(second, "second password\n");
  RunResult r = RunArca({"key", "add", "--repo", repo, "--new-password-file", second,
                         "--scrypt-n", "1024", "--label", "ops"},
                        Env());
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  const std::string keyfile = kdir + "/uploader.key";
  r = RunArca({"key", "add", "--repo", repo, "--new-key-file", keyfile, "--label", "uploader"},
              Env());
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  struct stat st;
  ASSERT_EQ(stat(keyfile.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // A key file is never overwritten.
  r = RunArca({"key", "add", "--repo", repo, "--new-key-file", keyfile}, Env());
  EXPECT_EQ(r.exit_code, 2) << r.Describe();

  r = RunArca({"key", "list", "--repo", repo, "--json"}, Env());
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  size_t slots = 0;
  for (size_t at = 0; (at = r.out.find("\"id\":", at)) != std::string::npos; ++at) ++slots;
  EXPECT_EQ(slots, 3u) << r.out;
  EXPECT_NE(r.out.find("\"label\":\"ops\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"kind\":\"key-file\""), std::string::npos) << r.out;

  // Each key opens the repository.
  EXPECT_EQ(RunArca({"snapshots", "--repo", repo, "--password-file", second}).exit_code, 0);
  r = RunArca({"snapshots", "--repo", repo, "--key-file", keyfile});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  r = RunArca({"key", "list", "--repo", repo}, {"ARCA_KEY_FILE=" + keyfile});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  std::string keyfile_slot;
  for (const std::string& line : std::vector<std::string>(absl::StrSplit(r.out, '\n'))) {
    if (!line.empty() && line[0] == '*') keyfile_slot = line.substr(1, 16);
  }
  ASSERT_EQ(keyfile_slot.size(), 16u) << r.out;

  // The slot in use cannot be removed; another key removes it, and then the
  // key file no longer opens the repository.
  r = RunArca({"key", "remove", keyfile_slot, "--repo", repo, "--key-file", keyfile});
  EXPECT_EQ(r.exit_code, 2) << r.Describe();
  EXPECT_NE(r.err.find("the key this command was unlocked with"), std::string::npos) << r.err;
  r = RunArca({"key", "remove", keyfile_slot, "--repo", repo}, Env());
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  r = RunArca({"snapshots", "--repo", repo, "--key-file", keyfile});
  EXPECT_EQ(r.exit_code, 4) << r.Describe();
  // The last slot is never removed.
  r = RunArca({"key", "list", "--repo", repo, "--json"}, Env());
  r = RunArca({"key", "remove", "0000000000000000", "--repo", repo}, Env());
  EXPECT_EQ(r.exit_code, 2) << r.Describe();
}

TEST_F(EncryptionTest, PlaintextRepositoryHasNoKeysAndRefusesKeyAdd) {
  const std::string repo = NewTempDir("plainkeys") + "/repo";
  ASSERT_EQ(RunArca({"init", "--repo", repo}).exit_code, 0);
  RunResult r = RunArca({"key", "list", "--repo", repo});
  EXPECT_EQ(r.exit_code, 4) << r.Describe();
  EXPECT_NE(r.err.find("is not encrypted"), std::string::npos) << r.err;
  r = RunArca({"init", "--repo", NewTempDir("bad") + "/r", "--encryption", "rot13"});
  EXPECT_EQ(r.exit_code, 2) << r.Describe();
  // No password source: exit 2 before anything is created.
  const std::string none = NewTempDir("nopw") + "/r";
  r = RunArca({"init", "--repo", none, "--encryption", "aes-256-gcm"});
  EXPECT_EQ(r.exit_code, 2) << r.Describe();
  EXPECT_FALSE(std::filesystem::exists(none + "/config"));
}

}  // namespace
}  // namespace arca::e2e
