// The collector's reach is set on its node (--source-root, --restore-root,
// --commands-file), never by a request: real processes, jobs through the
// orchestrator and the remote CLI (exit codes 9 and 13) or the chunker
// directly (for what the CLI cannot send), and the binary's start-up checks.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "gtest/gtest.h"
#include "libs/base/phase_status.h"
#include "tests/distributed/pipeline_cluster.h"

namespace arca::distributed {
namespace {

namespace stdfs = std::filesystem;

std::string Collector() { return Runfile("services/collector/collector"); }

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

// Runs the collector with `flags` (which must make it refuse to start).
RunResult StartCollector(std::vector<std::string> flags) {
  flags.insert(flags.begin(), {Collector(), "--insecure", "--listen=127.0.0.1:0"});
  return RunProgram(flags, absl::Seconds(30));
}

TEST(CollectorReach, BadRootsOrCommandsFileExit2AtStart) {
  const std::string dir = NewTempDir("flags");
  WriteFile(dir + "/file", "x");
  struct Case {
    std::vector<std::string> flags;
    std::string message;
  } cases[] = {
      {{"--source-root=" + dir + "/missing"},
       "invalid --source-root '" + dir + "/missing': cannot resolve"},
      {{"--source-root=" + dir, "--restore-root=" + dir + "/file"},
       "invalid --restore-root '" + dir + "/file': not a directory"},
      {{"--source-root=relative"}, "invalid --source-root 'relative': must be an absolute path"},
      {{"--commands-file=" + dir + "/no-such-file"},
       "cannot read --commands-file '" + dir + "/no-such-file'"},
  };
  for (const Case& k : cases) {
    RunResult r = StartCollector(k.flags);
    EXPECT_EQ(r.exit_code, 2) << r.Describe();
    EXPECT_NE(r.err.find(k.message), std::string::npos) << r.err;
  }
  WriteFile(dir + "/malformed", "# ok\nuname=uname -a\nthis line has no equals sign\n");
  RunResult malformed = StartCollector({"--commands-file=" + dir + "/malformed"});
  EXPECT_EQ(malformed.exit_code, 2) << malformed.Describe();
  EXPECT_NE(malformed.err.find("invalid --commands-file " + dir +
                               "/malformed:3: expected NAME=COMMAND LINE"),
            std::string::npos)
      << malformed.err;
  WriteFile(dir + "/twice", "a=true\n\na=false\n");
  RunResult twice = StartCollector({"--commands-file=" + dir + "/twice"});
  EXPECT_EQ(twice.exit_code, 2) << twice.Describe();
  EXPECT_NE(twice.err.find("/twice:3: command 'a' is defined twice"), std::string::npos)
      << twice.err;
  WriteFile(dir + "/badname", "no/slash=true\n");
  RunResult bad_name = StartCollector({"--commands-file=" + dir + "/badname"});
  EXPECT_EQ(bad_name.exit_code, 2) << bad_name.Describe();
  EXPECT_NE(bad_name.err.find("/badname:1: invalid command name 'no/slash'"), std::string::npos)
      << bad_name.err;
}

class CollectorReachCluster : public ::testing::Test {
 protected:
  void SetUp() override {
    // The collector may reach only `root_` (source and restore root); the
    // commands file, the marker and the outside tree are beside it.
    const std::string base = NewTempDir("reach");
    root_ = stdfs::canonical(base).string() + "/root";
    outside_ = stdfs::canonical(base).string() + "/outside";
    stdfs::create_directories(root_ + "/src/sub");
    stdfs::create_directories(outside_);
    stdfs::create_directories(root_ + "2");  // a sibling with the root as prefix
    WriteFile(root_ + "/src/a.txt", "alpha\n");
    WriteFile(root_ + "/src/sub/b.txt", "beta\n");
    WriteFile(outside_ + "/secret", "not for the network\n");
    marker_ = base + "/marker-ran";
    const std::string commands = base + "/commands";
    WriteFile(commands, "# the node's commands\nhello=echo hello from the node\nmarker=touch " +
                            marker_ + "\n");
    absl::StatusOr<std::unique_ptr<PipelineCluster>> c =
        PipelineCluster::Start(base + "/repo", {.compressors = 1,
                                                .collector_root = root_,
                                                .collector_args = {"--commands-file=" + commands}});
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = *std::move(c);
    orch_ = StartOrchestrator(*cluster_, 1, 1);
    ASSERT_NE(orch_, nullptr);
  }

  std::string root_;
  std::string outside_;
  std::string marker_;
  std::unique_ptr<PipelineCluster> cluster_;
  std::unique_ptr<ServiceProcess> orch_;
};

TEST_F(CollectorReachCluster, BackupOutsideTheSourceRootFailsWithExit9) {
  ASSERT_EQ(symlink(outside_.c_str(), (root_ + "/src/link-out").c_str()), 0);
  for (const std::string& source : {outside_, root_ + "/src/../../outside", root_ + "/src/link-out",
                                    root_ + "2", std::string("/etc")}) {
    RunResult backup = Remote(*orch_, {"backup", source});
    EXPECT_EQ(backup.exit_code, 9) << backup.Describe();
    EXPECT_NE(backup.err.find("failed in phase collection"), std::string::npos) << backup.err;
    EXPECT_NE(backup.err.find("source '" + source + "'"), std::string::npos) << backup.err;
    EXPECT_NE(backup.err.find("outside the collector's --source-root directories (" + root_ +
                              "): start the collector with --source-root"),
              std::string::npos)
        << backup.err;
  }
  EXPECT_EQ(VisibleSnapshots(cluster_->repo()), 0);
  // The symlink inside the tree is stored as a link, not followed.
  RunResult inside = Remote(*orch_, {"backup", root_ + "/src"});
  EXPECT_EQ(inside.exit_code, 0) << inside.Describe();
  EXPECT_EQ(VisibleSnapshots(cluster_->repo()), 1);
}

TEST_F(CollectorReachCluster, RestoreOutsideTheRestoreRootFailsWithExit13AndWritesNothing) {
  RunResult backup = Remote(*orch_, {"backup", root_ + "/src"});
  ASSERT_EQ(backup.exit_code, 0) << backup.Describe();
  const std::string id(absl::StripAsciiWhitespace(backup.out));
  ASSERT_EQ(symlink(outside_.c_str(), (root_ + "/link-out").c_str()), 0);
  for (const std::string& target :
       {outside_ + "/t", root_ + "/../outside/t", root_ + "/link-out/t", root_ + "2/t"}) {
    RunResult restore = Remote(*orch_, {"restore", id, target});
    EXPECT_EQ(restore.exit_code, 13) << restore.Describe();
    EXPECT_NE(restore.err.find("restore target '" + target + "'"), std::string::npos)
        << restore.err;
    EXPECT_NE(
        restore.err.find("outside the collector's --restore-root directories (" + root_ + ")"),
        std::string::npos)
        << restore.err;
  }
  EXPECT_FALSE(stdfs::exists(outside_ + "/t"));
  EXPECT_FALSE(stdfs::exists(root_ + "2/t"));
  RunResult inside = Remote(*orch_, {"restore", id, root_ + "/restored"});
  EXPECT_EQ(inside.exit_code, 0) << inside.Describe();
  EXPECT_TRUE(stdfs::exists(root_ + "/restored/sub/b.txt"));
}

TEST_F(CollectorReachCluster, CommandsRunByNameFromTheCommandsFile) {
  // A known name: the collector's command line runs; `arca cat` shows it.
  RunResult backup = Remote(*orch_, {"backup", root_ + "/src", "--command", "hello"});
  ASSERT_EQ(backup.exit_code, 0) << backup.Describe() << cluster_->collector().Stderr();
  const std::string id(absl::StripAsciiWhitespace(backup.out));
  RunResult cat =
      RunProgram({ArcaBinary(), "cat", id, "--command", "hello", "--repo", cluster_->repo()});
  EXPECT_EQ(cat.exit_code, 0) << cat.Describe();
  EXPECT_EQ(cat.out, "hello from the node\n");

  // An unknown name after a known one: exit 9 and nothing ran.
  RunResult unknown = Remote(
      *orch_, {"backup", root_ + "/src", "--command", "marker", "--critical-command", "rootkit"});
  EXPECT_EQ(unknown.exit_code, 9) << unknown.Describe();
  EXPECT_NE(unknown.err.find("unknown command 'rootkit': the collector's --commands-file "
                             "defines hello, marker; nothing was run"),
            std::string::npos)
      << unknown.err;
  EXPECT_FALSE(stdfs::exists(marker_)) << "the known command ran before the refusal";

  // The remote CLI sends names only: NAME=CMD is a usage error.
  RunResult line = Remote(*orch_, {"backup", root_ + "/src", "--command", "pwn=id"});
  EXPECT_EQ(line.exit_code, 2) << line.Describe();
  EXPECT_NE(line.err.find("invalid --command 'pwn=id': in remote mode give only the command's "
                          "NAME; its command line lives in the collector's --commands-file"),
            std::string::npos)
      << line.err;

  // A plan that carries a command line anyway (a client other than the
  // CLI): the collector refuses it, PERMISSION_DENIED in phase collection.
  v1::BackupPlan plan = cluster_->BackupPlan(root_ + "/src");
  v1::Command* c = plan.add_commands();
  c->set_name("marker");
  c->set_command_line("touch " + marker_);
  JobOutcome out = cluster_->RunBackup(plan);
  EXPECT_EQ(out.status.code(), absl::StatusCode::kPermissionDenied) << out.Describe();
  EXPECT_EQ(PhaseOf(out.status), v1::PHASE_COLLECTION) << out.Describe();
  EXPECT_NE(out.status.message().find("the collector runs only commands from its "
                                      "--commands-file; send the name"),
            std::string::npos)
      << out.Describe();
  EXPECT_FALSE(stdfs::exists(marker_));
  EXPECT_EQ(VisibleSnapshots(cluster_->repo()), 1);
  EXPECT_TRUE(cluster_->CheckAllServing().ok());
}

}  // namespace
}  // namespace arca::distributed
