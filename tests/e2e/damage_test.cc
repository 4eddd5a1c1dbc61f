// Damage through the real binary: a restore of a snapshot with a corrupt
// chunk writes every other file, lists the damaged ones and exits 8; a chunk
// that fails verification is moved aside (chunks/ab/cd/<hex>.bad), the next
// backup of the same source stores it again, and verify and restore of the
// old snapshot are clean afterwards (self-healing).
#include <algorithm>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "libs/testing/repo_damage.h"
#include "tests/e2e/arca_runner.h"

namespace arca::e2e {
namespace {

namespace fs = std::filesystem;

google::protobuf::Struct Parse(const std::string& text) {
  google::protobuf::Struct out;
  auto st = google::protobuf::util::JsonStringToMessage(text, &out);
  EXPECT_TRUE(st.ok()) << st.ToString() << "\n" << text;
  return out;
}

std::vector<std::string> Strings(const google::protobuf::Value& list) {
  std::vector<std::string> out;
  for (const auto& v : list.list_value().values()) out.push_back(v.string_value());
  return out;
}

// The chunk file of the first metadata chunk of the (only) snapshot whose
// metadata.aidx is under `repo` (docs/formats/index.md: chunk 0's digest is
// at bytes 40..72).
using ::arca::testing::FirstMetadataChunkFile;
using ::arca::testing::FlipMiddleBit;

class DamageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = NewTempDir("src");
    std::mt19937_64 rng(11);
    for (const char* name : {"big1.bin", "big2.bin", "big3.bin"}) {
      std::string data(6 << 20, '\0');
      for (auto& c : data) c = static_cast<char>(rng());
      WriteFile(src_ + "/" + name, data);
      files_.push_back(name);
    }
    WriteFile(src_ + "/note.txt", "hello\n");
    files_.push_back("note.txt");
    repo_ = NewTempDir("repo") + "/repo";
    ASSERT_EQ(RunArca({"init", "--repo", repo_}).exit_code, 0);
    RunResult r = RunArca({"backup", src_, "--repo", repo_});
    ASSERT_EQ(r.exit_code, 0) << r.Describe();
    snapshot_ = FirstLine(r.out);
    // The largest chunk file: data of one of the big files (and perhaps
    // of a neighbour).
    uintmax_t size = 0;
    for (const std::string& c : ListFiles(repo_ + "/chunks")) {
      if (fs::file_size(c) > size) {
        size = fs::file_size(c);
        victim_ = c;
      }
    }
    std::string data = ReadFile(victim_);
    data[data.size() / 2] ^= 0x01;
    WriteFile(victim_, data);
  }

  std::string src_, repo_, snapshot_, victim_;
  std::vector<std::string> files_;
};

TEST_F(DamageTest, RestoreWritesEverythingElseAndListsTheDamagedFiles) {
  const std::string target = NewTempDir("out");
  RunResult r = RunArca({"restore", snapshot_, target, "--repo", repo_, "--json"});
  EXPECT_EQ(r.exit_code, 8) << r.Describe();
  google::protobuf::Struct doc = Parse(r.out);
  std::vector<std::string> damaged;
  for (const auto& v : doc.fields().at("damaged_files").list_value().values()) {
    const auto& f = v.struct_value().fields();
    damaged.push_back(f.at("path").string_value());
    EXPECT_NE(f.at("message").string_value().find(fs::path(victim_).filename().string()),
              std::string::npos)
        << r.out;
  }
  ASSERT_GE(damaged.size(), 1u) << r.out;
  ASSERT_LE(damaged.size(), 2u) << r.out;  // a chunk may straddle two files
  for (const std::string& name : files_) {
    const bool is_damaged = std::find(damaged.begin(), damaged.end(), name) != damaged.end();
    const std::string got = ReadFile(target + "/" + name);
    const std::string want = ReadFile(src_ + "/" + name);
    if (is_damaged) {
      EXPECT_LT(got.size(), want.size()) << name;
      EXPECT_EQ(got, want.substr(0, got.size())) << name;
      EXPECT_NE(r.err.find("damaged: " + name + ": not restored"), std::string::npos) << r.err;
    } else {
      EXPECT_EQ(got, want) << name;
    }
  }
}

TEST_F(DamageTest, ABadChunkIsMovedAsideAndTheNextBackupHealsTheRepository) {
  const std::string bad = victim_ + ".bad";
  RunResult v = RunArca({"verify", "--repo", repo_, "--json"});
  EXPECT_EQ(v.exit_code, 8) << v.Describe();
  google::protobuf::Struct doc = Parse(v.out);
  const std::vector<std::string> damaged =
      Strings(doc.fields().at("damaged_files").struct_value().fields().at(snapshot_));
  ASSERT_GE(damaged.size(), 1u) << v.out;
  EXPECT_EQ(Strings(doc.fields().at("bad_chunk_files")), std::vector<std::string>{bad}) << v.out;
  EXPECT_FALSE(fs::exists(victim_));
  EXPECT_TRUE(fs::exists(bad));

  // Still damaged (now missing), and the message says why.
  RunResult again = RunArca({"verify", "--repo", repo_});
  EXPECT_EQ(again.exit_code, 8) << again.Describe();
  EXPECT_NE(again.err.find("moved aside as " + bad), std::string::npos) << again.err;
  EXPECT_NE(again.err.find(damaged[0]), std::string::npos) << again.err;

  // gc leaves the .bad file (and does not count it as a chunk).
  RunResult gc = RunArca({"gc", "--repo", repo_, "--json"});
  EXPECT_EQ(gc.exit_code, 0) << gc.Describe();
  EXPECT_TRUE(fs::exists(bad));

  // The same source again: the chunk is stored again, not deduplicated.
  RunResult b = RunArca({"backup", src_, "--repo", repo_, "--json"});
  ASSERT_EQ(b.exit_code, 0) << b.Describe();
  EXPECT_GT(JsonNumber(b.out, "chunks_new"), 0) << b.out;
  EXPECT_TRUE(fs::exists(victim_));

  RunResult healed = RunArca({"verify", "--repo", repo_, "--json"});
  EXPECT_EQ(healed.exit_code, 0) << healed.Describe();
  doc = Parse(healed.out);
  EXPECT_EQ(doc.fields().at("damaged_files").struct_value().fields_size(), 0) << healed.out;
  EXPECT_EQ(Strings(doc.fields().at("bad_chunk_files")), std::vector<std::string>{bad});
  RunResult text = RunArca({"verify", "--repo", repo_});
  EXPECT_EQ(text.exit_code, 0) << text.Describe();
  EXPECT_NE(text.err.find("moved aside after failing verification"), std::string::npos) << text.err;

  // The old snapshot restores identically.
  const std::string target = NewTempDir("out");
  RunResult r = RunArca({"restore", snapshot_, target, "--repo", repo_});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  for (const std::string& name : files_) {
    EXPECT_EQ(ReadFile(target + "/" + name), ReadFile(src_ + "/" + name)) << name;
  }
}

TEST_F(DamageTest, ARestoreMovesTheBadChunkAsideToo) {
  RunResult r = RunArca({"restore", snapshot_, NewTempDir("out"), "--repo", repo_});
  EXPECT_EQ(r.exit_code, 8) << r.Describe();
  EXPECT_TRUE(fs::exists(victim_ + ".bad"));
  RunResult b = RunArca({"backup", src_, "--repo", repo_, "--json"});
  ASSERT_EQ(b.exit_code, 0) << b.Describe();
  EXPECT_GT(JsonNumber(b.out, "chunks_new"), 0) << b.out;
  EXPECT_EQ(RunArca({"verify", "--repo", repo_}).exit_code, 0);
}

// A damaged chunk in the parent's metadata stream: a backup that chose the
// parent itself warns (naming the parent and the chunk) and reads every
// file, so its snapshot is complete; an explicit --parent still fails.
TEST_F(DamageTest, ADamagedParentMetadataChunkIsAWarningUnlessTheParentIsExplicit) {
  FlipMiddleBit(victim_);  // the payload chunk SetUp damaged is whole again
  const std::string meta = FirstMetadataChunkFile(repo_);
  ASSERT_FALSE(meta.empty());
  ASSERT_TRUE(fs::exists(meta)) << meta;
  const std::string digest = fs::path(meta).filename().string();
  FlipMiddleBit(meta);

  RunResult pinned = RunArca({"backup", src_, "--repo", repo_, "--parent", snapshot_, "--json"});
  EXPECT_EQ(pinned.exit_code, 10) << pinned.Describe();
  const std::string pinned_text = pinned.out + pinned.err;
  EXPECT_NE(pinned_text.find("parent snapshot " + snapshot_), std::string::npos) << pinned_text;
  EXPECT_NE(pinned_text.find(digest), std::string::npos) << pinned_text;

  RunResult b = RunArca({"backup", src_, "--repo", repo_, "--json"});
  ASSERT_EQ(b.exit_code, 0) << b.Describe();
  EXPECT_NE(b.out.find("parent snapshot " + snapshot_), std::string::npos) << b.out;
  EXPECT_NE(b.out.find(digest), std::string::npos) << b.out;
  EXPECT_NE(b.out.find("every file from this one on is read"), std::string::npos) << b.out;
  EXPECT_EQ(JsonNumber(b.out, "files_reused"), 0) << b.out;
  EXPECT_EQ(JsonNumber(b.out, "files_read"), static_cast<double>(files_.size())) << b.out;

  const std::string target = NewTempDir("out");
  RunResult r = RunArca({"restore", JsonStringValue(b.out, "snapshot"), target, "--repo", repo_});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  for (const std::string& name : files_) {
    EXPECT_EQ(ReadFile(target + "/" + name), ReadFile(src_ + "/" + name)) << name;
  }
  // The damaged chunk was moved aside on the way; this backup wrote the same
  // metadata (an unchanged tree), so it is stored again and verify is clean.
  EXPECT_TRUE(fs::exists(meta + ".bad"));
  RunResult v = RunArca({"verify", "--repo", repo_});
  EXPECT_EQ(v.exit_code, 0) << v.Describe();
}

}  // namespace
}  // namespace arca::e2e
