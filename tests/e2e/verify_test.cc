// `arca verify` finds damaged and missing chunks and names them.
#include <filesystem>
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "tests/e2e/arca_runner.h"

namespace arca::e2e {
namespace {

class VerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = NewTempDir("src");
    std::mt19937_64 rng(7);
    std::string big(6 << 20, '\0');
    for (auto& c : big) c = static_cast<char>(rng());
    WriteFile(src_ + "/big.bin", big);
    WriteFile(src_ + "/note.txt", "hello\n");
    repo_ = NewTempDir("repo") + "/repo";
    ASSERT_EQ(RunArca({"init", "--repo", repo_}).exit_code, 0);
    RunResult r = RunArca({"backup", src_, "--repo", repo_});
    ASSERT_EQ(r.exit_code, 0) << r.Describe();
    snapshot_ = FirstLine(r.out);
    chunks_ = ListFiles(repo_ + "/chunks");
    ASSERT_GE(chunks_.size(), 3u);
  }

  // The largest chunk file: part of big.bin's payload.
  std::string LargestChunk() const {
    std::string best;
    uintmax_t size = 0;
    for (const std::string& c : chunks_) {
      if (std::filesystem::file_size(c) > size) {
        size = std::filesystem::file_size(c);
        best = c;
      }
    }
    return best;
  }

  static std::string Name(const std::string& path) {
    return std::filesystem::path(path).filename().string();
  }

  std::string src_, repo_, snapshot_;
  std::vector<std::string> chunks_;
};

TEST_F(VerifyTest, CleanRepositoryVerifies) {
  RunResult r = RunArca({"verify", "--repo", repo_});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  RunResult one = RunArca({"verify", snapshot_, "--repo", repo_, "--json"});
  EXPECT_EQ(one.exit_code, 0) << one.Describe();
  EXPECT_EQ(JsonNumber(one.out, "snapshots"), 1);
  EXPECT_GE(JsonNumber(one.out, "bytes"), 6 << 20);
}

TEST_F(VerifyTest, FlippedByteIsFoundAndNamed) {
  std::string victim = LargestChunk();
  std::string data = ReadFile(victim);
  data[data.size() / 2] ^= 0x01;
  WriteFile(victim, data);
  RunResult r = RunArca({"verify", "--repo", repo_});
  EXPECT_EQ(r.exit_code, 8) << r.Describe();
  EXPECT_NE(r.err.find(Name(victim)), std::string::npos) << r.Describe();
  EXPECT_NE(r.err.find(snapshot_), std::string::npos) << r.Describe();
  EXPECT_NE(r.err.find("big.bin"), std::string::npos) << r.Describe();
  // Restoring the damaged snapshot fails as corruption too, without a crash.
  RunResult restore = RunArca({"restore", snapshot_, NewTempDir("t"), "--repo", repo_});
  EXPECT_EQ(restore.exit_code, 8) << restore.Describe();
}

TEST_F(VerifyTest, DeletedChunkIsFoundAndNamed) {
  std::string victim = LargestChunk();
  std::filesystem::remove(victim);
  RunResult r = RunArca({"verify", "--repo", repo_});
  EXPECT_EQ(r.exit_code, 8) << r.Describe();
  EXPECT_NE(r.err.find(Name(victim)), std::string::npos) << r.Describe();
  EXPECT_NE(r.err.find("missing"), std::string::npos) << r.Describe();
}

TEST_F(VerifyTest, TruncatedAndGarbageBlobsAreCorruption) {
  std::string a = chunks_[0], b = chunks_[1];
  std::string data = ReadFile(a);
  WriteFile(a, data.substr(0, data.size() / 3));
  WriteFile(b, std::string(1000, 'G'));
  RunResult r = RunArca({"verify", "--repo", repo_});
  EXPECT_EQ(r.exit_code, 8) << r.Describe();
  EXPECT_NE(r.err.find(Name(a)), std::string::npos) << r.Describe();
  EXPECT_NE(r.err.find(Name(b)), std::string::npos) << r.Describe();
}

}  // namespace
}  // namespace arca::e2e
