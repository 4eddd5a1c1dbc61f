// Stress on real processes: three `arca backup` loops (three source trees,
// so three groups) into one repository while `arca forget --keep-last 2
// --prune` runs in a loop beside them (and now and then a plain `arca gc`),
// for ARCA_STRESS_SECONDS (default 60) and at least until every loop made 3
// backups and forget ran 3 times. Afterwards: one last forget --prune, verify
// exit 0, every remaining snapshot restores identical (content, mode, times)
// to the tree version it was taken of, nothing is left behind (.tmp-*,
// locks, .forget-*, .gc-*, snapshot directories without manifest.json), and
// the chunk bytes and the whole repository's bytes are within 5 % of a fresh
// repository into which the remaining snapshots' trees are backed up once
// each (same sources, so same groups; in time order).
//
// Each tree's content is a pure function of (tree, version): every version
// adds, rewrites and deletes some files (so older chunks become garbage), and
// the trees share a pool of large files (so dedup across groups matters). A
// version can therefore be generated again from scratch to compare with.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_join.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "libs/fs/testing/tree_compare.h"
#include "tests/e2e/arca_runner.h"

namespace arca::e2e {
namespace {

namespace fsys = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kTrees = 3;
constexpr int kPrivateSlots = 24;  // 4 KiB .. 196 KiB each, private to a tree
constexpr int kSharedSlots = 3;    // each one of the pool's files
constexpr int kSlots = kPrivateSlots + kSharedSlots;
constexpr int kPoolFiles = 5;
constexpr size_t kPoolFileBytes = size_t{1536} << 10;
// The only backup failure the design allows under forget (docs/formats/
// repository.md, "Forget racing a backup"): run the backup again.
constexpr char kParentForgotten[] = "of the parent snapshot is missing from the repository";

uint64_t Mix(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {  // splitmix64 over 4 words
  uint64_t h = 0x9e3779b97f4a7c15;
  for (uint64_t x : {a, b, c, d}) {
    h ^= x + 0x9e3779b97f4a7c15 + (h << 6) + (h >> 2);
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9;
    h = (h ^ (h >> 27)) * 0x94d049bb133111eb;
    h ^= h >> 31;
  }
  return h;
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

const std::vector<std::string>& Pool() {
  static const std::vector<std::string>* pool = [] {
    auto* p = new std::vector<std::string>;
    for (int k = 0; k < kPoolFiles; ++k) p->push_back(RandomBytes(kPoolFileBytes, 9000 + k));
    return p;
  }();
  return *pool;
}

// One file slot of a tree at some version: present or not, and the version
// that last wrote it (its content, mode and mtime follow from that).
struct Slot {
  bool present = false;
  int gen = -1;
};

std::vector<Slot> SlotsAt(int tree, int version) {
  std::vector<Slot> slots(kSlots);
  for (int i = 0; i < kSlots; ++i) {
    slots[i].present = Mix(tree, i, 0, 1) % 5 != 0;
    slots[i].gen = slots[i].present ? 0 : -1;
  }
  for (int v = 1; v <= version; ++v) {
    for (int i = 0; i < kSlots; ++i) {
      const uint64_t h = Mix(tree, i, v, 2);
      // About a quarter of the files per version, and always one.
      if (h % 4 != 0 && i != v % kSlots) continue;
      if (slots[i].present && (h >> 8) % 4 == 0) {
        slots[i] = Slot{};  // deleted
      } else {
        slots[i] = Slot{true, v};  // added or rewritten
      }
    }
  }
  return slots;
}

std::string SlotPath(int i) {
  if (i >= kPrivateSlots) return "shared/s" + std::to_string(i - kPrivateSlots) + ".bin";
  return std::string(i % 2 ? "a" : "b") + "/f" + std::to_string(i) + ".bin";
}

void SetTime(const std::string& path, int64_t sec, int64_t nsec) {
  const timespec times[2] = {{sec, nsec}, {sec, nsec}};
  if (utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    ADD_FAILURE() << "utimensat " << path << ": " << strerror(errno);
  }
}

// Turns `root` (holding version `version` - 1 of `tree` as `before` says, or
// nothing when `before` is empty) into version `version`.
void Materialize(const std::string& root, int tree, int version, const std::vector<Slot>& before) {
  for (const char* d : {"a", "b", "shared"}) fsys::create_directories(root + "/" + d);
  const std::vector<Slot> now = SlotsAt(tree, version);
  for (int i = 0; i < kSlots; ++i) {
    const std::string path = root + "/" + SlotPath(i);
    const Slot old = before.empty() ? Slot{} : before[i];
    if (!now[i].present) {
      if (old.present && unlink(path.c_str()) != 0) {
        ADD_FAILURE() << "unlink " << path << ": " << strerror(errno);
      }
      continue;
    }
    if (old.present && old.gen == now[i].gen) continue;
    const int g = now[i].gen;
    if (i >= kPrivateSlots) {
      WriteFile(path, Pool()[Mix(tree, i, g, 3) % kPoolFiles]);
    } else {
      WriteFile(path, RandomBytes(4096 + Mix(tree, i, g, 4) % (192 << 10), Mix(tree, i, g, 5)));
    }
    static constexpr mode_t kModes[] = {0644, 0600, 0755, 0640};
    const mode_t mode = i >= kPrivateSlots ? 0644 : kModes[Mix(tree, i, g, 6) % 4];
    if (chmod(path.c_str(), mode) != 0) ADD_FAILURE() << "chmod " << path;
    // A rewritten file always gets a new mtime: change detection must see it.
    SetTime(path, 1600000000 + int64_t{g} * 100 + i, (tree * 1000 + i) * 1000 + 7);
  }
  for (const std::string d : {"/a", "/b", "/shared", ""}) {
    if (chmod((root + d).c_str(), 0755) != 0) ADD_FAILURE() << "chmod " << root + d;
    SetTime(root + d, 1700000000 + version, tree);
  }
}

google::protobuf::Struct Parse(const std::string& text) {
  google::protobuf::Struct out;
  auto st = google::protobuf::util::JsonStringToMessage(text, &out);
  EXPECT_TRUE(st.ok()) << st.ToString() << "\n" << text;
  return out;
}

// A JSON number that protobuf may print as a string (64-bit integers).
int64_t Int(const google::protobuf::Value& v) {
  if (v.has_string_value()) return std::stoll(v.string_value());
  return static_cast<int64_t>(v.number_value());
}

uint64_t Bytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : fsys::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

struct Version {
  int tree;
  int version;
};

TEST(Stress, ThreeBackupLoopsBesideAForgetPruneLoop) {
  int seconds = 60;
  if (const char* env = std::getenv("ARCA_STRESS_SECONDS"); env && *env) seconds = std::atoi(env);
  const std::string repo_parent = NewTempDir("stress_repo");
  const std::string repo = repo_parent + "/repo";
  ASSERT_EQ(RunArca({"init", "--repo", repo}).exit_code, 0);
  std::vector<std::string> srcs;
  for (int t = 0; t < kTrees; ++t) {
    srcs.push_back(NewTempDir("stress_src" + std::to_string(t)));
    Materialize(srcs[t], t, 0, {});
  }

  std::mutex mu;
  std::map<std::string, Version> version_of;  // every committed snapshot id, guarded by mu
  std::atomic<bool> stop{false}, failed{false};
  std::atomic<int> backups[kTrees] = {0, 0, 0};
  std::atomic<int> races{0}, forgets{0}, gcs{0};
  std::atomic<int64_t> snapshots_forgotten{0}, chunks_removed{0};
  const auto start = Clock::now();

  std::vector<std::thread> threads;
  for (int t = 0; t < kTrees; ++t) {
    threads.emplace_back([&, t] {
      for (int v = 0; !stop && !failed;) {
        RunResult r = RunArca({"backup", srcs[t], "--repo", repo, "--json", "--no-progress"});
        if (r.exit_code != 0) {
          if (r.out.find(kParentForgotten) != std::string::npos ||
              r.err.find(kParentForgotten) != std::string::npos) {
            std::cerr << "tree " << t << " version " << v << ": parent race, again\n";
            races++;
            continue;  // the same version again
          }
          ADD_FAILURE() << "backup of tree " << t << " version " << v << ": " << r.Describe();
          failed = true;
          return;
        }
        const std::string id = JsonStringValue(r.out, "snapshot");
        if (id.empty()) {
          ADD_FAILURE() << "no snapshot id: " << r.Describe();
          failed = true;
          return;
        }
        {
          std::lock_guard<std::mutex> lock(mu);
          version_of[id] = Version{t, v};
        }
        backups[t]++;
        ++v;
        Materialize(srcs[t], t, v, SlotsAt(t, v - 1));
      }
    });
  }
  threads.emplace_back([&] {
    // One host, one clock: 1 s of slack (file times are a kernel tick behind).
    for (int i = 0; !stop && !failed; ++i) {
      if (i % 4 == 3) {
        RunResult r = RunArca({"gc", "--repo", repo, "--json", "--clock-slack-seconds", "1"});
        if (r.exit_code != 0) {
          ADD_FAILURE() << "gc beside backups: " << r.Describe();
          failed = true;
          return;
        }
        google::protobuf::Struct doc = Parse(r.out);
        chunks_removed += Int(doc.fields().at("chunks_removed"));
        gcs++;
      } else {
        RunResult r = RunArca({"forget", "--repo", repo, "--keep-last", "2", "--prune",
                               "--clock-slack-seconds", "1", "--json"});
        if (r.exit_code != 0) {
          ADD_FAILURE() << "forget --prune beside backups: " << r.Describe();
          failed = true;
          return;
        }
        google::protobuf::Struct doc = Parse(r.out);
        EXPECT_TRUE(doc.fields().at("gc_error").has_null_value()) << r.out;
        snapshots_forgotten += Int(doc.fields().at("removed"));
        chunks_removed += Int(doc.fields().at("gc").struct_value().fields().at("chunks_removed"));
        forgets++;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
  });

  auto enough = [&] {
    for (auto& b : backups) {
      if (b < 3) return false;
    }
    return forgets >= 3 && Clock::now() - start >= std::chrono::seconds(seconds);
  };
  // A hard limit, so that a hung loop fails instead of timing out silently.
  const auto limit = start + std::chrono::seconds(seconds) + std::chrono::minutes(5);
  while (!failed && !enough() && Clock::now() < limit) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const bool in_time = enough() || failed;
  stop = true;
  for (std::thread& th : threads) th.join();
  const double loop_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_FALSE(failed.load());
  ASSERT_TRUE(in_time) << "the loops did not reach 3 backups each and 3 forgets within " << seconds
                       << " s + 5 min: backups " << backups[0] << "/" << backups[1] << "/"
                       << backups[2] << ", forgets " << forgets;

  // Everything is older than the 1 s slack now: the last forget leaves only
  // what the kept snapshots need.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  RunResult last = RunArca({"forget", "--repo", repo, "--keep-last", "2", "--prune",
                            "--clock-slack-seconds", "1", "--json"});
  ASSERT_EQ(last.exit_code, 0) << last.Describe();
  {
    google::protobuf::Struct doc = Parse(last.out);
    snapshots_forgotten += Int(doc.fields().at("removed"));
    const auto& gc = doc.fields().at("gc").struct_value().fields();
    chunks_removed += Int(gc.at("chunks_removed"));
    EXPECT_EQ(Int(gc.at("live_locks")), 0) << last.out;
    EXPECT_EQ(Int(gc.at("chunks_missing")), 0) << last.out;
    EXPECT_EQ(Int(gc.at("chunks_kept_recent")), 0) << last.out;
  }
  RunResult verify = RunArca({"verify", "--repo", repo, "--no-progress"});
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();

  // Nothing left behind.
  for (const auto& e : fsys::recursive_directory_iterator(repo)) {
    const std::string name = e.path().filename();
    if (e.path().parent_path().filename() == "locks") ADD_FAILURE() << "left: " << e.path();
    EXPECT_NE(name.rfind(".tmp-", 0), 0u) << e.path();
    EXPECT_NE(name.rfind(".forget-", 0), 0u) << e.path();
    EXPECT_NE(name.rfind(".gc-", 0), 0u) << e.path();
  }
  for (const auto& g : fsys::directory_iterator(repo + "/snapshots")) {
    for (const auto& s : fsys::directory_iterator(g.path())) {
      EXPECT_TRUE(fsys::exists(s.path() / "manifest.json")) << "orphan " << s.path();
    }
  }

  // The remaining snapshots, oldest first: two per group.
  RunResult list = RunArca({"snapshots", "--repo", repo, "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.Describe();
  std::vector<std::pair<int64_t, std::string>> remaining;  // (time, id)
  const google::protobuf::Struct listed = Parse("{\"list\":" + list.out + "}");
  for (const auto& v : listed.fields().at("list").list_value().values()) {
    const auto& f = v.struct_value().fields();
    remaining.emplace_back(Int(f.at("time_unix_ns")), f.at("id").string_value());
  }
  std::sort(remaining.begin(), remaining.end());
  ASSERT_EQ(remaining.size(), 2u * kTrees) << list.out;

  // Each restores identical to the version it was taken of.
  std::vector<std::string> scratch;                       // removed at the end
  std::vector<std::pair<Version, std::string>> restored;  // in time order
  for (const auto& [time, id] : remaining) {
    ASSERT_TRUE(version_of.count(id)) << "snapshot " << id << " was not made by a backup loop";
    const Version ver = version_of[id];
    scratch.push_back(NewTempDir("stress_restore"));
    const std::string target = scratch.back() + "/tree";
    RunResult r = RunArca({"restore", id, target, "--repo", repo, "--no-progress"});
    ASSERT_EQ(r.exit_code, 0) << r.Describe();
    scratch.push_back(NewTempDir("stress_expected"));
    Materialize(scratch.back(), ver.tree, ver.version, {});
    std::vector<std::string> diffs = testing::CompareTrees(scratch.back(), target);
    EXPECT_TRUE(diffs.empty()) << id << " (tree " << ver.tree << " version " << ver.version
                               << "):\n"
                               << absl::StrJoin(diffs, "\n");
    restored.emplace_back(ver, target);
  }

  // The reference: the restored trees, moved to their sources' paths (same
  // groups), backed up once each in time order into a fresh repository.
  // --ignore-ctime: a restore cannot set ctime, so without it every file of
  // a group's second reference backup would be read and chunked again,
  // while the stressed snapshots reused the chunks of unchanged files; that
  // difference alone once made the reference 11 % larger.
  const std::string ref_parent = NewTempDir("stress_ref");
  const std::string ref = ref_parent + "/repo";
  ASSERT_EQ(RunArca({"init", "--repo", ref}).exit_code, 0);
  for (const auto& [ver, tree] : restored) {
    fsys::remove_all(srcs[ver.tree]);
    fsys::rename(tree, srcs[ver.tree]);
    RunResult r = RunArca(
        {"backup", srcs[ver.tree], "--repo", ref, "--json", "--no-progress", "--ignore-ctime"});
    ASSERT_EQ(r.exit_code, 0) << r.Describe();
  }
  // Whole bytes in the messages (a double would print as 1.9e+07).
  const uint64_t chunk_bytes = Bytes(repo + "/chunks"), ref_chunk_bytes = Bytes(ref + "/chunks");
  const uint64_t repo_bytes = Bytes(repo), ref_bytes = Bytes(ref);
  EXPECT_LE(chunk_bytes, ref_chunk_bytes * 1.05)
      << "stressed repository keeps garbage: chunks " << chunk_bytes << " bytes vs fresh "
      << ref_chunk_bytes;
  EXPECT_GE(chunk_bytes, ref_chunk_bytes * 0.95)
      << "stressed repository holds less than a fresh one: chunks " << chunk_bytes
      << " bytes vs fresh " << ref_chunk_bytes;
  EXPECT_LE(repo_bytes, ref_bytes * 1.05)
      << "repository " << repo_bytes << " bytes vs fresh " << ref_bytes;
  EXPECT_GE(repo_bytes, ref_bytes * 0.95)
      << "repository " << repo_bytes << " bytes vs fresh " << ref_bytes;

  std::cout << "stress: " << loop_seconds << " s; backups " << backups[0] << "/" << backups[1]
            << "/" << backups[2] << ", parent races " << races << ", forgets " << forgets
            << " (snapshots forgotten " << snapshots_forgotten << "), gcs " << gcs
            << ", chunks removed " << chunks_removed << "; chunk bytes " << chunk_bytes
            << " vs fresh " << ref_chunk_bytes << " ("
            << (static_cast<double>(chunk_bytes) / ref_chunk_bytes - 1) * 100
            << " %), repository bytes " << repo_bytes << " vs fresh " << ref_bytes << " ("
            << (static_cast<double>(repo_bytes) / ref_bytes - 1) * 100 << " %)\n";

  for (const std::string& d : scratch) fsys::remove_all(d);
  for (const std::string& d : srcs) fsys::remove_all(d);
  fsys::remove_all(repo_parent);
  fsys::remove_all(ref_parent);
}

}  // namespace
}  // namespace arca::e2e
