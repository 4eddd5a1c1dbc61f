// `arca gc` in a loop beside an `arca backup` loop (real processes, one
// repository, ~20 s): every backup succeeds, gc collects the chunks of
// snapshots forgotten meanwhile (renamed to ".forget-*" as `arca forget`
// does), and afterwards every remaining snapshot verifies and the newest
// restores identically.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

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

TEST(GcConcurrency, GcLoopBesideBackupLoopLeavesEverySnapshotWhole) {
  const std::string repo = NewTempDir("repo") + "/repo";
  const std::string src = NewTempDir("src");
  ASSERT_EQ(RunArca({"init", "--repo", repo}).exit_code, 0);

  std::atomic<bool> stop{false};
  std::atomic<int> gc_runs{0}, gc_failures{0};
  std::atomic<double> removed{0};
  std::thread gc([&] {
    while (!stop) {
      // One host, one clock: 1 s of slack (file times are a kernel tick behind).
      RunResult r = RunArca({"gc", "--repo", repo, "--json", "--clock-slack-seconds", "1"});
      if (r.exit_code != 0) {
        ADD_FAILURE() << r.Describe();
        gc_failures++;
        continue;
      }
      removed = removed + JsonNumber(r.out, "chunks_removed");
      gc_runs++;
    }
  });

  std::vector<std::string> ids;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (int i = 0; std::chrono::steady_clock::now() < end; ++i) {
    WriteFile(src + "/stable.bin", RandomBytes(6 << 20, 1));  // same bytes, new mtime
    WriteFile(src + "/changing.bin", RandomBytes(2 << 20, 100 + i));
    RunResult r = RunArca({"backup", src, "--repo", repo, "--json"});
    ASSERT_EQ(r.exit_code, 0) << "backup " << i << " beside gc: " << r.Describe();
    ids.push_back(JsonStringValue(r.out, "snapshot"));
    ASSERT_FALSE(ids.back().empty()) << r.out;
    if (ids.size() > 3) {  // keep the newest three
      std::filesystem::path dir = repo + "/snapshots/" + ids[ids.size() - 4];
      std::filesystem::rename(dir, dir.parent_path() / (".forget-" + dir.filename().string()));
    }
  }
  stop = true;
  gc.join();
  std::cout << ids.size() << " backups, " << gc_runs.load() << " gc runs removed " << removed.load()
            << " chunks\n";
  EXPECT_EQ(gc_failures.load(), 0);
  EXPECT_GT(gc_runs.load(), 3);
  EXPECT_GT(removed.load(), 0) << "gc never collected a forgotten snapshot's chunks";
  ASSERT_GE(ids.size(), 4u);

  RunResult all = RunArca({"verify", "--repo", repo});
  EXPECT_EQ(all.exit_code, 0) << all.Describe();
  for (size_t k = ids.size() - 3; k < ids.size(); ++k) {
    RunResult v = RunArca({"verify", ids[k], "--repo", repo});
    EXPECT_EQ(v.exit_code, 0) << ids[k] << ": " << v.Describe();
  }
  const std::string target = NewTempDir("restore");
  RunResult r = RunArca({"restore", ids.back(), target, "--repo", repo});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(ReadFile(target + "/stable.bin"), ReadFile(src + "/stable.bin"));
  EXPECT_EQ(ReadFile(target + "/changing.bin"), ReadFile(src + "/changing.bin"));

  // Once nothing runs, one more gc leaves exactly what the snapshots need.
  RunResult last = RunArca({"gc", "--repo", repo, "--json", "--clock-slack-seconds", "1"});
  ASSERT_EQ(last.exit_code, 0) << last.Describe();
  EXPECT_EQ(JsonNumber(last.out, "live_locks"), 0) << last.out;
  EXPECT_EQ(JsonNumber(last.out, "chunks_missing"), 0) << last.out;
  EXPECT_EQ(RunArca({"verify", "--repo", repo}).exit_code, 0);
}

}  // namespace
}  // namespace arca::e2e
