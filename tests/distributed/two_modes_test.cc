// One suite of backup scenarios run in both modes: the embedded `arca backup`
// (one process, a local repository) and the distributed pipeline (real
// collector, compressor, uploader and chunker processes on loopback). Both
// repositories start as copies of one empty repository (same chunker seed
// and parameters), both receive the same backups in the same order, so the
// snapshots must agree field by field: the manifests are compared after
// dropping only what depends on time or mode (ids, timestamps, durations,
// options["pipeline"] and ["job_id"]); the phase_seconds keys must be the
// same. The exit codes of failing jobs must agree too (one exit-code policy:
// libs/base/phase_status.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "libs/base/phase_status.h"
#include "libs/fs/testing/awkward_tree.h"
#include "libs/pipeline/restore.h"
#include "libs/store/repository.h"
#include "tests/distributed/pipeline_cluster.h"

namespace arca::distributed {
namespace {

namespace stdfs = std::filesystem;

// A plan and the flags that say the same to `arca backup`.
struct Scenario {
  std::string source;
  std::vector<std::string> excludes;
  // name → command line; the distributed collector has the same lines in its
  // --commands-file.
  std::vector<std::pair<std::string, bool>> commands;  // name, critical
  bool data_change_detection = false;
  bool ignore_ctime = false;
  std::string parent;
  int level = 0;  // 0: the repository's default
};

// What one mode produced.
struct ModeRun {
  int exit_code = -1;
  std::string describe;  // for failure messages
  std::optional<v1::Manifest> manifest;
};

constexpr char kCommandsFile[] =
    "dump=printf 'database dump\\n'; printf 'to stderr' >&2\n"
    "fails=echo partial; exit 3\n";

std::string CommandLine(const std::string& name) {
  return name == "dump" ? "printf 'database dump\\n'; printf 'to stderr' >&2"
                        : "echo partial; exit 3";
}

class TwoModes : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string dir = NewTempDir("two-modes");
    const std::string commands = dir + "/commands";
    std::ofstream(commands) << kCommandsFile;
    absl::StatusOr<std::unique_ptr<PipelineCluster>> c = PipelineCluster::Start(
        dir + "/distributed",
        {.uploaders = 1, .compressors = 2, .collector_args = {"--commands-file=" + commands}});
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = c->release();
    embedded_repo_ = new std::string(dir + "/embedded");
    // The same empty repository: same id, chunker seed and parameters.
    stdfs::copy(cluster_->repo(), *embedded_repo_, stdfs::copy_options::recursive);
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    delete embedded_repo_;
  }

  static absl::StatusOr<v1::Manifest> Load(const std::string& repo, const std::string& id) {
    absl::StatusOr<std::unique_ptr<Repository>> r = Repository::Open(repo);
    if (!r.ok()) return r.status();
    absl::StatusOr<LoadedSnapshot> s = (*r)->LoadSnapshot(id);
    if (!s.ok()) return s.status();
    return s->manifest;
  }

  static ModeRun Embedded(const Scenario& s) {
    std::vector<std::string> argv = {ArcaBinary(), "backup", "--repo",  *embedded_repo_,
                                     "--json",     "--host", "testhost"};
    for (const std::string& e : s.excludes) argv.push_back("--exclude=" + e);
    for (const auto& [name, critical] : s.commands) {
      argv.push_back(absl::StrCat(critical ? "--critical-command=" : "--command=", name, "=",
                                  CommandLine(name)));
    }
    if (s.data_change_detection) argv.push_back("--change-detection=data");
    if (s.ignore_ctime) argv.push_back("--ignore-ctime");
    if (!s.parent.empty()) argv.push_back("--parent=" + s.parent);
    if (s.level != 0) argv.push_back(absl::StrCat("--level=", s.level));
    argv.push_back(s.source);
    RunResult r = RunProgram(argv);
    ModeRun out;
    out.exit_code = r.exit_code;
    out.describe = r.Describe();
    const std::string key = "{\"snapshot\":\"";
    if (r.out.rfind(key, 0) == 0) {
      const std::string id = r.out.substr(key.size(), r.out.find('"', key.size()) - key.size());
      if (!id.empty()) {
        absl::StatusOr<v1::Manifest> m = Load(*embedded_repo_, id);
        EXPECT_TRUE(m.ok()) << m.status();
        if (m.ok()) out.manifest = *m;
      }
    }
    return out;
  }

  static ModeRun Distributed(const Scenario& s) {
    v1::BackupPlan plan = cluster_->BackupPlan(s.source);
    for (const std::string& e : s.excludes) plan.add_excludes(e);
    for (const auto& [name, critical] : s.commands) {
      v1::Command* c = plan.add_commands();
      c->set_name(name);
      c->set_critical(critical);
    }
    plan.set_metadata_change_detection(!s.data_change_detection);
    plan.set_ignore_ctime(s.ignore_ctime);
    plan.set_parent(s.parent);
    if (s.level != 0) {
      plan.set_codec(v1::CODEC_ZSTD);
      plan.set_level(s.level);
    }
    JobOutcome o = cluster_->RunBackup(plan);
    ModeRun out;
    out.describe = o.Describe();
    // The job's writer lock (Uploader.HoldWrite) is gone once it ended.
    const std::string locks = cluster_->repo() + "/locks";
    auto no_lock = [&locks] { return !stdfs::exists(locks) || stdfs::is_empty(locks); };
    for (int i = 0; i < 100 && !no_lock(); ++i) absl::SleepFor(absl::Milliseconds(20));
    EXPECT_TRUE(no_lock()) << "a writer lock was left";
    if (!o.status.ok()) {
      out.exit_code = static_cast<int>(ExitCodeOf(o.status));
      return out;
    }
    if (!o.result.has_value()) return out;
    out.exit_code = o.result->exit_code();
    absl::StatusOr<v1::Manifest> m = Load(cluster_->repo(), o.result->snapshot());
    EXPECT_TRUE(m.ok()) << m.status();
    if (m.ok()) out.manifest = *m;
    return out;
  }

  // Reads a byte of every regular file and lists every directory under
  // `root`: the first read after a change moves atime (relatime), which the
  // snapshot records, so without this the mode that runs second would see
  // other atimes.
  static void SettleAccessTimes(const std::string& root) {
    // After the clock tick of the last change (atime must end up above
    // mtime, or relatime moves it again).
    absl::SleepFor(absl::Milliseconds(30));
    std::error_code ec;
    for (auto it = stdfs::recursive_directory_iterator(root, ec);
         !ec && it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
      char byte;
      std::ifstream(it->path()).read(&byte, 1);
    }
  }

  // The manifest without what depends on time or mode.
  static v1::Manifest Comparable(v1::Manifest m, const std::string& mode) {
    EXPECT_EQ(m.options().at("pipeline"), mode);
    m.mutable_options()->erase("pipeline");
    m.mutable_options()->erase("job_id");
    m.clear_id();
    m.clear_time_unix_ns();
    v1::BackupStats* s = m.mutable_stats();
    s->clear_duration_seconds();
    for (auto& [key, seconds] : *s->mutable_phase_seconds()) seconds = 0;
    if (!s->parent_snapshot().empty()) s->set_parent_snapshot("(a parent)");
    for (v1::CommandResult& c : *m.mutable_commands()) c.clear_duration_seconds();
    return m;
  }

  // Runs the scenario in both modes; both must end with `exit_code`; when a
  // snapshot is written, the two must agree. Returns the two snapshot ids
  // (embedded, distributed).
  static std::pair<std::string, std::string> Both(const Scenario& s, int exit_code) {
    SettleAccessTimes(s.source);
    ModeRun e = Embedded(s);
    ModeRun d = Distributed(s);
    EXPECT_EQ(e.exit_code, exit_code) << "embedded: " << e.describe;
    EXPECT_EQ(d.exit_code, exit_code) << "distributed: " << d.describe;
    EXPECT_EQ(e.manifest.has_value(), d.manifest.has_value())
        << "embedded: " << e.describe << "\ndistributed: " << d.describe;
    if (!e.manifest || !d.manifest) return {};
    EXPECT_EQ(Comparable(*e.manifest, "embedded").DebugString(),
              Comparable(*d.manifest, "distributed").DebugString());
    // The archived entries, one by one (names the first that differs).
    std::vector<std::string> entries[2];
    const std::string repos[2] = {*embedded_repo_, cluster_->repo()};
    const std::string ids[2] = {e.manifest->id(), d.manifest->id()};
    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<std::unique_ptr<Repository>> r = Repository::Open(repos[i]);
      EXPECT_TRUE(r.ok()) << r.status();
      if (!r.ok()) return {};
      absl::Status st = ForEachEntry(**r, ids[i], [&](const v1::Entry& entry) {
        entries[i].push_back(entry.DebugString());
        return absl::OkStatus();
      });
      EXPECT_TRUE(st.ok()) << st;
    }
    EXPECT_EQ(entries[0].size(), entries[1].size());
    for (size_t i = 0; i < std::min(entries[0].size(), entries[1].size()); ++i) {
      if (entries[0][i] != entries[1][i]) {
        ADD_FAILURE() << "entry " << i << " differs:\nembedded:\n"
                      << entries[0][i] << "distributed:\n"
                      << entries[1][i];
        break;
      }
    }
    return {e.manifest->id(), d.manifest->id()};
  }

  static PipelineCluster* cluster_;
  static std::string* embedded_repo_;
};

PipelineCluster* TwoModes::cluster_ = nullptr;
std::string* TwoModes::embedded_repo_ = nullptr;

std::string AwkwardSource(const std::string& name) {
  const std::string src = NewTempDir(name);
  testing::AwkwardTreeOptions tree;
  tree.large_file_bytes = 4u << 20;
  tree.small_files = 60;
  absl::Status made = testing::MakeAwkwardTree(src, tree);
  EXPECT_TRUE(made.ok()) << made;
  return src;
}

TEST_F(TwoModes, AwkwardTreeThenChangeDetectionRounds) {
  Scenario s;
  s.source = AwkwardSource("awkward");
  Both(s, 0);

  // Unchanged: every single-link file reused, xattrs taken from the parent.
  auto [e1, d1] = Both(s, 0);
  ASSERT_FALSE(e1.empty());
  ASSERT_FALSE(d1.empty());

  // One file changed, one touched (ctime and mtime move), one added, one
  // removed.
  { std::ofstream(s.source + "/changed-file", std::ios::trunc) << "first version"; }
  Both(s, 0);
  std::ofstream(s.source + "/changed-file", std::ios::trunc) << "second, longer version";
  std::ofstream(s.source + "/added-file") << "new";
  ASSERT_EQ(utimensat(AT_FDCWD, (s.source + "/added-file").c_str(), nullptr, 0), 0);
  Both(s, 0);

  // The same with ctime ignored, and with change detection off.
  s.ignore_ctime = true;
  Both(s, 0);
  s.ignore_ctime = false;
  s.data_change_detection = true;
  Both(s, 0);
}

TEST_F(TwoModes, ExcludesAndCommands) {
  Scenario s;
  s.source = NewTempDir("excludes");
  stdfs::create_directories(s.source + "/keep/cache");
  std::ofstream(s.source + "/keep/a.txt") << "a";
  std::ofstream(s.source + "/keep/b.log") << "b";
  std::ofstream(s.source + "/keep/cache/c.bin") << "c";
  s.excludes = {"*.log", "/keep/cache"};
  s.commands = {{"dump", false}};
  Both(s, 0);

  // A failing non-critical command: snapshot written, data missing (exit 3).
  s.commands = {{"dump", false}, {"fails", false}};
  Both(s, 3);
}

TEST_F(TwoModes, SocketIsSkippedWithTheSameWarning) {
  Scenario s;
  s.source = NewTempDir("socket");
  std::ofstream(s.source + "/readable") << "fine";
  // A socket is not archived: a warning without data loss, in both modes.
  // (Bound from inside the directory: the full path may exceed sun_path.)
  RunResult made = RunProgram({"/usr/bin/python3", "-c",
                               "import os,socket,sys; os.chdir(sys.argv[1]); "
                               "socket.socket(socket.AF_UNIX).bind('socket')",
                               s.source});
  ASSERT_EQ(made.exit_code, 0) << made.Describe();
  Both(s, 0);
}

TEST_F(TwoModes, FailuresInEachPhaseGiveTheSameExitCode) {
  Scenario s;
  // Collection: a source that does not exist (9).
  s.source = TestTmpDir() + "/does-not-exist";
  Both(s, 9);

  // Collection: a critical command that fails (9); nothing is written.
  s.source = NewTempDir("critical");
  std::ofstream(s.source + "/f") << "f";
  s.commands = {{"fails", true}};
  Both(s, 9);

  // Setup: a level zstd does not have (2).
  s.commands.clear();
  s.level = 99;
  Both(s, 2);

  // Setup: an explicit parent that does not exist (2).
  s.level = 0;
  s.parent = "testhost_nothing/20200101T000000.000000000Z";
  Both(s, 2);

  // Setup: a parent with change detection off (2).
  s.data_change_detection = true;
  Both(s, 2);
}

}  // namespace
}  // namespace arca::distributed
