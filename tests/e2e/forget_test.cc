// `arca forget` through the real binary: the retention policy on real
// backups (times are the backups' own "now"; the policy itself is unit-tested
// with synthetic times in libs/store/retention_test.cc), dry run, JSON shape,
// and that forgetting leaves every kept snapshot restorable and verifiable.
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
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

class ForgetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = NewTempDir("src");
    repo_ = NewTempDir("repo") + "/repo";
    ASSERT_EQ(RunArca({"init", "--repo", repo_}).exit_code, 0);
    for (int i = 0; i < 4; ++i) {
      // Each snapshot holds different content, so a mix-up shows on restore.
      WriteFile(src_ + "/version.txt", "version " + std::to_string(i) + "\n");
      WriteFile(src_ + "/data" + std::to_string(i) + ".bin", std::string(100000 + i, 'a' + i));
      RunResult r = RunArca({"backup", src_, "--repo", repo_});
      ASSERT_EQ(r.exit_code, 0) << r.Describe();
      ids_.push_back(FirstLine(r.out));
    }
    group_ = ids_[0].substr(0, ids_[0].find('/'));
    chunks_ = ListFiles(repo_ + "/chunks");
  }

  std::vector<std::string> SnapshotIds() {
    RunResult r = RunArca({"snapshots", "--repo", repo_, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    std::vector<std::string> out;
    google::protobuf::Struct doc = Parse("{\"list\":" + r.out + "}");
    for (const auto& v : doc.fields().at("list").list_value().values()) {
      out.push_back(v.struct_value().fields().at("id").string_value());
    }
    return out;
  }

  std::string src_, repo_, group_;
  std::vector<std::string> ids_;
  std::vector<std::string> chunks_;
};

TEST_F(ForgetTest, DryRunRemovesNothingAndReportsEverySnapshot) {
  RunResult r = RunArca({"forget", "--repo", repo_, "--keep-last", "2", "--dry-run", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  google::protobuf::Struct doc = Parse(r.out);
  EXPECT_TRUE(doc.fields().at("dry_run").bool_value());
  EXPECT_EQ(doc.fields().at("policy").string_value(), "keep 2 last snapshots");
  EXPECT_EQ(doc.fields().at("kept").number_value(), 2);
  EXPECT_EQ(doc.fields().at("to_remove").number_value(), 2);
  EXPECT_EQ(doc.fields().at("removed").number_value(), 0);
  EXPECT_TRUE(doc.fields().at("error").has_null_value());
  const auto& list = doc.fields().at("snapshots").list_value().values();
  ASSERT_EQ(list.size(), 4);
  for (int i = 0; i < 4; ++i) {
    const auto& s = list[i].struct_value().fields();
    EXPECT_EQ(s.at("id").string_value(), ids_[i]);  // oldest first
    EXPECT_EQ(s.at("group").string_value(), group_);
    EXPECT_GT(s.at("time_unix_ns").number_value(), 0);
    EXPECT_FALSE(s.at("time").string_value().empty());
    EXPECT_EQ(s.at("kept").bool_value(), i >= 2) << i;
    EXPECT_FALSE(s.at("removed").bool_value());
    const auto& reasons = s.at("reasons").list_value().values();
    if (i >= 2) {
      ASSERT_EQ(reasons.size(), 1);
      EXPECT_EQ(reasons[0].string_value(), "last snapshot");
    } else {
      EXPECT_EQ(reasons.size(), 0);
    }
  }
  EXPECT_EQ(SnapshotIds(), ids_);

  RunResult table = RunArca({"forget", "--repo", repo_, "--keep-last", "2", "--dry-run"});
  ASSERT_EQ(table.exit_code, 0) << table.Describe();
  EXPECT_NE(table.out.find("group " + group_ + ": keep 2 of 4 snapshot(s)"), std::string::npos)
      << table.out;
  EXPECT_NE(table.err.find("dry run: would remove 2 of 4 snapshot(s)"), std::string::npos)
      << table.err;
  EXPECT_EQ(SnapshotIds(), ids_);
}

TEST_F(ForgetTest, KeepLastTwoRemovesTheOldestTwoAndTheRestStillRestores) {
  RunResult r = RunArca({"forget", "--repo", repo_, "--keep-last", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  for (int i = 0; i < 4; ++i) {
    const size_t line = r.out.find(ids_[i]);
    ASSERT_NE(line, std::string::npos) << r.out;
    const std::string text = r.out.substr(line, r.out.find('\n', line) - line);
    EXPECT_NE(text.find(i < 2 ? "removed" : "keep     last snapshot"), std::string::npos) << text;
  }
  EXPECT_NE(r.err.find("removed 2 of 4 snapshot(s); run `arca gc`"), std::string::npos) << r.err;
  EXPECT_EQ(SnapshotIds(), std::vector<std::string>({ids_[2], ids_[3]}));
  // No chunk removed, no hidden leftover in the group.
  EXPECT_EQ(ListFiles(repo_ + "/chunks"), chunks_);
  for (const auto& e : fs::directory_iterator(repo_ + "/snapshots/" + group_)) {
    EXPECT_NE(e.path().filename().string()[0], '.') << e.path();
  }
  for (int i = 2; i < 4; ++i) {
    const std::string target = NewTempDir("restore" + std::to_string(i));
    RunResult restore = RunArca({"restore", ids_[i], target, "--repo", repo_});
    ASSERT_EQ(restore.exit_code, 0) << restore.Describe();
    EXPECT_EQ(ReadFile(target + "/version.txt"), "version " + std::to_string(i) + "\n");
    EXPECT_EQ(ReadFile(target + "/data" + std::to_string(i) + ".bin"),
              std::string(100000 + i, 'a' + i));
  }
  RunResult gone = RunArca({"restore", ids_[0], NewTempDir("gone"), "--repo", repo_});
  EXPECT_EQ(gone.exit_code, 2) << gone.Describe();
  RunResult verify = RunArca({"verify", "--repo", repo_});
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();
  EXPECT_NE(verify.err.find("verified 2 snapshot(s)"), std::string::npos) << verify.err;

  // Idempotent: the same policy again removes nothing.
  RunResult again = RunArca({"forget", "--repo", repo_, "--keep-last", "2", "--json"});
  ASSERT_EQ(again.exit_code, 0) << again.Describe();
  EXPECT_EQ(Parse(again.out).fields().at("removed").number_value(), 0);
  // A new backup after forget works and is the newest.
  RunResult next = RunArca({"backup", src_, "--repo", repo_});
  ASSERT_EQ(next.exit_code, 0) << next.Describe();
  EXPECT_EQ(SnapshotIds().back(), FirstLine(next.out));
}

TEST_F(ForgetTest, PruneRunsTheGcAfterForgettingAndPrintsBothSummaries) {
  // gc keeps chunks newer than its start minus the clock slack: wait past a
  // one-second slack so the forgotten snapshots' own chunks may go.
  sleep(2);
  RunResult r = RunArca({"forget", "--repo", repo_, "--keep-last", "2", "--prune",
                         "--clock-slack-seconds", "1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  google::protobuf::Struct doc = Parse(r.out);
  EXPECT_EQ(doc.fields().at("removed").number_value(), 2);
  EXPECT_TRUE(doc.fields().at("gc_error").has_null_value());
  const auto& gc = doc.fields().at("gc").struct_value().fields();
  EXPECT_FALSE(gc.at("dry_run").bool_value());
  EXPECT_EQ(gc.at("snapshots").number_value(), 2);
  // data0.bin and data1.bin (and the first two metadata streams) were only
  // in the forgotten snapshots.
  EXPECT_GE(gc.at("chunks_removed").number_value(), 2) << r.out;
  EXPECT_EQ(gc.at("chunks_missing").number_value(), 0);
  EXPECT_LT(ListFiles(repo_ + "/chunks").size(), chunks_.size());
  for (int i = 2; i < 4; ++i) {
    const std::string target = NewTempDir("restore" + std::to_string(i));
    RunResult restore = RunArca({"restore", ids_[i], target, "--repo", repo_});
    ASSERT_EQ(restore.exit_code, 0) << restore.Describe();
    EXPECT_EQ(ReadFile(target + "/data" + std::to_string(i) + ".bin"),
              std::string(100000 + i, 'a' + i));
  }
  RunResult verify = RunArca({"verify", "--repo", repo_});
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();

  // Text: the forget table, then the gc summary; nothing left to forget.
  RunResult text = RunArca({"forget", "--repo", repo_, "--keep-last", "2", "--prune"});
  ASSERT_EQ(text.exit_code, 0) << text.Describe();
  EXPECT_NE(text.out.find("policy: keep 2 last snapshots"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("gc: 2 snapshots reference"), std::string::npos) << text.out;
  EXPECT_EQ(text.err.find("run `arca gc`"), std::string::npos) << text.err;
}

TEST_F(ForgetTest, PruneInADryRunRunsNoGcAndGcFlagsNeedPrune) {
  RunResult r =
      RunArca({"forget", "--repo", repo_, "--keep-last", "1", "--prune", "--dry-run", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  google::protobuf::Struct doc = Parse(r.out);
  EXPECT_TRUE(doc.fields().at("gc").has_null_value()) << r.out;
  EXPECT_EQ(ListFiles(repo_ + "/chunks"), chunks_);
  EXPECT_EQ(SnapshotIds().size(), 4u);
  RunResult bad =
      RunArca({"forget", "--repo", repo_, "--keep-last", "1", "--clock-slack-seconds", "1"});
  EXPECT_EQ(bad.exit_code, 2) << bad.Describe();
  EXPECT_NE(bad.err.find("need --prune"), std::string::npos) << bad.err;
  EXPECT_EQ(SnapshotIds().size(), 4u);
}

TEST_F(ForgetTest, JsonListsRemovedSnapshots) {
  RunResult r = RunArca({"forget", "--repo", repo_, "--keep-last", "1", "--keep-within", "1y",
                         "--group", group_, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  google::protobuf::Struct doc = Parse(r.out);
  // All four backups are seconds apart: within 1y of the newest keeps them all.
  EXPECT_EQ(doc.fields().at("removed").number_value(), 0);
  const auto& last = doc.fields().at("snapshots").list_value().values(3).struct_value().fields();
  const auto& reasons = last.at("reasons").list_value().values();
  ASSERT_EQ(reasons.size(), 2);
  EXPECT_EQ(reasons[0].string_value(), "within 1y");
  EXPECT_EQ(reasons[1].string_value(), "last snapshot");

  RunResult daily = RunArca({"forget", "--repo", repo_, "--keep-daily", "unlimited", "--json"});
  ASSERT_EQ(daily.exit_code, 0) << daily.Describe();
  doc = Parse(daily.out);
  // Same UTC day (unless the backups straddled midnight): the newest, and the
  // oldest as "oldest daily snapshot" since the rule has counts left.
  const double removed = doc.fields().at("removed").number_value();
  EXPECT_TRUE(removed == 2 || removed == 1 || removed == 0) << daily.out;
  const auto& list = doc.fields().at("snapshots").list_value().values();
  EXPECT_TRUE(list[0].struct_value().fields().at("kept").bool_value());
  EXPECT_TRUE(list[3].struct_value().fields().at("kept").bool_value());
  EXPECT_EQ(SnapshotIds().size(), 4 - static_cast<size_t>(removed));
  EXPECT_EQ(RunArca({"verify", "--repo", repo_}).exit_code, 0);
}

TEST_F(ForgetTest, BadFlagsAreUsageErrorsAndTouchNothing) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"forget", "--repo", repo_},
           {"forget", "--repo", repo_, "--keep-last", "0"},
           {"forget", "--repo", repo_, "--keep-within", "0d"},
           {"forget", "--repo", repo_, "--keep-within", "5"},
           {"forget", "--repo", repo_, "--keep-within", "1x"},
           {"forget", "--repo", repo_, "--keep-daily", "-2"},
           {"forget", "--repo", repo_, "--keep-daily", "many"},
           {"forget", "--repo", repo_, "--keep-last", "1", "--prune", "--clock-slack-seconds", "0"},
           {"forget", "--repo", repo_, "--keep-last", "1", "--stale-lock-minutes", "60"},
           {"forget", ids_[0], "--repo", repo_, "--keep-last", "1"},
           {"forget", "--repo", repo_, "--keep-last", "1", "--group", ".hidden"},
       }) {
    RunResult r = RunArca(args);
    EXPECT_EQ(r.exit_code, 2) << r.Describe();
    EXPECT_FALSE(r.err.empty());
  }
  RunResult empty = RunArca({"forget", "--repo", repo_, "--keep-last", "0"});
  EXPECT_NE(empty.err.find("refuses to remove every snapshot"), std::string::npos) << empty.err;
  RunResult missing = RunArca({"forget", "--repo", NewTempDir("none"), "--keep-last", "1"});
  EXPECT_EQ(missing.exit_code, 4) << missing.Describe();
  EXPECT_EQ(SnapshotIds(), ids_);
}

TEST_F(ForgetTest, OtherGroupsAreUntouched) {
  const std::string other = NewTempDir("other");
  WriteFile(other + "/x", "x");
  RunResult b = RunArca({"backup", other, "--repo", repo_});
  ASSERT_EQ(b.exit_code, 0) << b.Describe();
  RunResult r = RunArca({"forget", "--repo", repo_, "--keep-last", "1", "--group", group_});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  std::vector<std::string> left = SnapshotIds();
  ASSERT_EQ(left.size(), 2u);
  EXPECT_NE(std::find(left.begin(), left.end(), ids_[3]), left.end());
  EXPECT_NE(std::find(left.begin(), left.end(), FirstLine(b.out)), left.end());
  // A group with no snapshot: nothing to do.
  RunResult none = RunArca({"forget", "--repo", repo_, "--keep-last", "1", "--group", "nogroup"});
  EXPECT_EQ(none.exit_code, 0) << none.Describe();
}

}  // namespace
}  // namespace arca::e2e
