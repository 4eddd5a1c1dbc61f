// Crash loop (issue 12): `kill -9` at seeded random moments of `arca backup`
// (a ~40 MB tree) and of `arca gc` on one repository, at least 30 kills; then
// one more backup and one gc. Afterwards: verify exit 0, no ".tmp-*" (a
// lock's temp file included), no lock file, no snapshot directory without
// manifest.json, no ".forget-*" or ".gc-*" leftovers, and the chunk bytes
// within 5 % of a reference.
//
// The reference, precisely: a fresh repository into which the same trees are
// backed up once each, in order — the tree of every snapshot that survived in
// the crashed repository (each one's changing file is regenerated from its
// seed; the stable files never change) and then the final tree. Both
// repositories then hold the same snapshots' data; the crashed one must not
// keep more than 5 % of garbage (or lose data: verify).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/e2e/arca_runner.h"

namespace arca::e2e {
namespace {

namespace fsys = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    memcpy(&s[i], &v, 8);
  }
  return s;
}

// Runs arca with `args`, output discarded; kills it with SIGKILL after
// `kill_after` unless it exited first. True when it was killed.
bool RunAndKill(const std::vector<std::string>& args, std::chrono::microseconds kill_after,
                int* exit_code) {
  std::vector<std::string> argv = {ArcaBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_t pid = fork();
  if (pid == 0) {
    const int null_fd = open("/dev/null", O_WRONLY);
    dup2(null_fd, 1);
    dup2(null_fd, 2);
    std::vector<char*> cargv;
    for (std::string& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  const auto deadline = Clock::now() + kill_after;
  int status = 0;
  while (Clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

// Committed snapshot directories (with manifest.json) under REPO/snapshots.
std::set<std::string> Snapshots(const std::string& repo) {
  std::set<std::string> out;
  if (!fsys::exists(repo + "/snapshots")) return out;
  for (const auto& g : fsys::directory_iterator(repo + "/snapshots")) {
    if (!g.is_directory()) continue;
    for (const auto& s : fsys::directory_iterator(g.path())) {
      if (s.is_directory() && fsys::exists(s.path() / "manifest.json")) out.insert(s.path());
    }
  }
  return out;
}

uint64_t ChunkBytes(const std::string& repo) {
  uint64_t total = 0;
  for (const auto& e : fsys::recursive_directory_iterator(repo + "/chunks")) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

void WriteTree(const std::string& src, uint64_t changing_seed) {
  WriteFile(src + "/changing.bin", RandomBytes(4 << 20, changing_seed));
}

TEST(CrashLoop, KilledBackupsAndGcsLeaveNothingBehind) {
  const std::string repo = NewTempDir("crash") + "/repo";
  const std::string src = NewTempDir("crash_src");
  fsys::create_directories(src + "/stable");
  for (int i = 0; i < 36; ++i) {
    WriteFile(src + "/stable/f" + std::to_string(i), RandomBytes(1 << 20, 1000 + i));
  }
  ASSERT_EQ(RunArca({"init", "--repo", repo}).exit_code, 0);

  // How long an uninterrupted run takes sets the range of the kill moments.
  const std::vector<std::string> backup = {"backup", src, "--repo", repo, "--no-progress"};
  // One host, one clock: 1 s of slack (file times are a kernel tick behind).
  const std::vector<std::string> gc = {"gc", "--repo", repo, "--clock-slack-seconds", "1"};
  std::mt19937_64 rng(20261205);
  auto timed = [](const std::vector<std::string>& args) {
    const auto start = Clock::now();
    RunResult r = RunArca(args);
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
  };

  std::map<std::string, uint64_t> seed_of;  // committed snapshot → its changing seed
  uint64_t seed = 1;
  WriteTree(src, seed);
  // Backups are killed before the first one ever finishes, too.
  int backup_kills = 0, gc_kills = 0, finished = 0;
  std::chrono::microseconds backup_time(0), gc_time(0);
  // Until enough of each kind were killed (a loaded machine finishes more
  // runs before their kill moment): every third run is a gc, and all of
  // them once the backups have their share.
  const auto loop_end = Clock::now() + std::chrono::seconds(50);
  for (int i = 0; (backup_kills < 24 || gc_kills < 8) && Clock::now() < loop_end; ++i) {
    const bool is_gc = i % 3 == 2 || (i > 5 && backup_kills >= 24);
    if (!is_gc) WriteTree(src, ++seed);
    // A gc's work shrinks once the first ones removed the old garbage:
    // kill within the first half of the calibrated run.
    std::chrono::microseconds range = is_gc ? gc_time / 2 : backup_time;
    if (range.count() == 0) range = std::chrono::milliseconds(is_gc ? 50 : 600);
    range = std::max<std::chrono::microseconds>(range, std::chrono::milliseconds(2));
    std::uniform_int_distribution<int64_t> when(1000, range.count());
    const std::set<std::string> before = Snapshots(repo);
    int code = 0;
    bool killed = RunAndKill(is_gc ? gc : backup, std::chrono::microseconds(when(rng)), &code);
    if (killed) {
      (is_gc ? gc_kills : backup_kills)++;
    } else {
      ASSERT_EQ(code, 0) << (is_gc ? "gc" : "backup") << " exited " << code;
      ++finished;
    }
    for (const std::string& s : Snapshots(repo)) {
      if (!before.count(s)) seed_of[s] = seed;
    }
    // Calibrate once: a whole run, timed (after the first kills).
    if (i == 3) backup_time = timed(backup);
    if (i == 5) gc_time = timed(gc);
    for (const std::string& s : Snapshots(repo)) {
      if (!seed_of.count(s)) seed_of[s] = seed;
    }
  }
  std::cout << backup_kills << " backups and " << gc_kills << " gcs killed, " << finished
            << " finished; backup " << backup_time.count() / 1000 << " ms, gc "
            << gc_time.count() / 1000 << " ms\n";
  EXPECT_GE(backup_kills + gc_kills, 30);
  EXPECT_GE(backup_kills, 10);
  EXPECT_GE(gc_kills, 5);

  // One more backup (of the final tree) and one gc.
  WriteTree(src, ++seed);
  const std::set<std::string> before = Snapshots(repo);
  RunResult last = RunArca(backup);
  ASSERT_EQ(last.exit_code, 0) << last.Describe();
  for (const std::string& s : Snapshots(repo)) {
    if (!before.count(s)) seed_of[s] = seed;
  }
  // Every leftover is now older than the gc's 1 s of slack.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  RunResult collected = RunArca({"gc", "--repo", repo, "--clock-slack-seconds", "1", "--json"});
  ASSERT_EQ(collected.exit_code, 0) << collected.Describe();
  std::cout << collected.out << "\n";

  RunResult v = RunArca({"verify", "--repo", repo});
  EXPECT_EQ(v.exit_code, 0) << v.Describe();
  // Nothing left behind, REPO/locks/.tmp-* included: a lock's temp file is
  // named for its writer's pid and host (.tmp-<pid>-<host>-<random>), so gc
  // removes the one of a killed writer of this host at any age.
  for (const auto& e : fsys::recursive_directory_iterator(repo)) {
    const std::string name = e.path().filename();
    if (e.path().parent_path().filename() == "locks") {
      ADD_FAILURE() << (name.rfind(".tmp-", 0) == 0 ? "lock temp file left: " : "lock left: ")
                    << e.path();
      continue;
    }
    EXPECT_NE(name.rfind(".tmp-", 0), 0u) << e.path();
    EXPECT_NE(name.rfind(".forget-", 0), 0u) << e.path();
    EXPECT_NE(name.rfind(".gc-", 0), 0u) << e.path();
  }
  for (const auto& g : fsys::directory_iterator(repo + "/snapshots")) {
    for (const auto& s : fsys::directory_iterator(g.path())) {
      EXPECT_TRUE(fsys::exists(s.path() / "manifest.json")) << "orphan " << s.path();
    }
  }

  // The reference: the surviving snapshots' trees, in order, then the final tree.
  const std::set<std::string> surviving = Snapshots(repo);
  std::vector<uint64_t> seeds;
  for (const std::string& s : surviving) {  // names sort by time
    ASSERT_TRUE(seed_of.count(s)) << s;
    seeds.push_back(seed_of[s]);
  }
  const std::string ref = NewTempDir("crash_ref") + "/repo";
  ASSERT_EQ(RunArca({"init", "--repo", ref}).exit_code, 0);
  for (uint64_t s : seeds) {
    WriteTree(src, s);
    RunResult r = RunArca({"backup", src, "--repo", ref, "--no-progress"});
    ASSERT_EQ(r.exit_code, 0) << r.Describe();
  }
  const double crashed_bytes = ChunkBytes(repo), ref_bytes = ChunkBytes(ref);
  std::cout << surviving.size() << " snapshots survive; chunk bytes " << crashed_bytes
            << " vs reference " << ref_bytes << " (" << (crashed_bytes / ref_bytes - 1) * 100
            << " %)\n";
  EXPECT_LE(crashed_bytes, ref_bytes * 1.05);
  EXPECT_GE(crashed_bytes, ref_bytes * 0.95);
}

}  // namespace
}  // namespace arca::e2e
