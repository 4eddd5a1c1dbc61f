// Deduplication across snapshots, through the real arca binary.
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "tests/e2e/arca_runner.h"

namespace arca::e2e {
namespace {

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    memcpy(&s[i], &v, 8);
  }
  return s;
}

struct Repo {
  std::string path;
  Repo() : path(NewTempDir("repo") + "/repo") {
    RunResult r = RunArca({"init", "--repo", path});
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
  }
  // Content dedup is what is tested here: read every file
  // (--change-detection=data), so nothing is reused by metadata.
  RunResult Backup(const std::string& src) {
    RunResult r = RunArca({"backup", src, "--repo", path, "--json", "--change-detection=data"});
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    return r;
  }
};

TEST(Dedup, SameTreeTwiceStoresNoNewPayload) {
  std::string src = NewTempDir("src");
  WriteFile(src + "/big.bin", RandomBytes(24 << 20, 1));
  for (int i = 0; i < 300; ++i) {
    WriteFile(src + "/small" + std::to_string(i) + ".txt",
              "file number " + std::to_string(i) + "\n" + std::string(i * 7, 'x'));
  }
  Repo repo;
  RunResult first = repo.Backup(src);
  EXPECT_GT(JsonNumber(first.out, "bytes_new_raw"), 24 << 20) << first.out;
  RunResult second = repo.Backup(src);
  // At most the metadata stream may be new (directory atimes can move).
  EXPECT_LE(JsonNumber(second.out, "bytes_new_raw"), JsonNumber(second.out, "metadata_bytes"))
      << second.out;
  EXPECT_GE(JsonNumber(second.out, "bytes_deduplicated"), 24 << 20) << second.out;
  // 300 small files share chunks: far fewer chunks than files.
  EXPECT_LT(JsonNumber(first.out, "chunks_total"), 60) << first.out;
}

TEST(Dedup, InsertInMiddleStoresOnlyChunksAroundTheEdit) {
  std::string src = NewTempDir("src");
  std::string data = RandomBytes(64 << 20, 2);
  WriteFile(src + "/big.bin", data);
  Repo repo;
  repo.Backup(src);
  data.insert(data.size() / 2, "a few inserted bytes");
  WriteFile(src + "/big.bin", data);
  RunResult second = repo.Backup(src);
  double new_bytes = JsonNumber(second.out, "bytes_new_raw");
  EXPECT_GT(new_bytes, 0) << second.out;
  // Chunks average 1 MiB and are at most 4 MiB: the edit touches one or two.
  EXPECT_LT(new_bytes, 8 << 20) << second.out;
  EXPECT_GT(JsonNumber(second.out, "bytes_deduplicated"), 56 << 20) << second.out;
}

}  // namespace
}  // namespace arca::e2e
