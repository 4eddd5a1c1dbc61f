// `--progress`: JSON progress lines on stderr that end at the final counts
// while stdout stays exactly one JSON document; nothing on a non-terminal
// without the flag; the human line with \r when forced.
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/e2e/arca_runner.h"

namespace arca::e2e {
namespace {

google::protobuf::Struct Parse(const std::string& text) {
  google::protobuf::Struct out;
  auto st = google::protobuf::util::JsonStringToMessage(text, &out);
  EXPECT_TRUE(st.ok()) << st.ToString() << " in: " << text;
  return out;
}

// A number printed as a JSON number or (64-bit proto fields) a string.
double Number(const google::protobuf::Value& v) {
  return v.has_string_value() ? std::stod(v.string_value()) : v.number_value();
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

class ProgressE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = NewTempDir("src");
    std::mt19937_64 rng(11);
    std::string big(5 << 20, '\0');
    for (auto& c : big) c = static_cast<char>(rng());
    WriteFile(src_ + "/big.bin", big);
    WriteFile(src_ + "/a.txt", "hello\n");
    WriteFile(src_ + "/b.txt", std::string(70000, 'b'));
    repo_ = NewTempDir("repo") + "/repo";
    ASSERT_EQ(RunArca({"init", "--repo", repo_}).exit_code, 0);
  }

  // Checks the stderr JSON lines of `command` and returns the last one.
  static google::protobuf::Struct CheckProgressLines(const RunResult& r,
                                                     const std::string& command) {
    std::vector<std::string> lines = Lines(r.err);
    EXPECT_FALSE(lines.empty()) << r.Describe();
    if (lines.empty()) return {};
    double last_bytes = 0;
    for (const std::string& l : lines) {
      google::protobuf::Struct j = Parse(l);
      EXPECT_EQ(j.fields().at("type").string_value(), "progress") << l;
      EXPECT_EQ(j.fields().at("command").string_value(), command) << l;
      EXPECT_GE(j.fields().at("bytes").number_value(), last_bytes) << l;
      last_bytes = j.fields().at("bytes").number_value();
    }
    google::protobuf::Struct last = Parse(lines.back());
    EXPECT_TRUE(last.fields().at("done").bool_value()) << lines.back();
    return last;
  }

  std::string src_, repo_;
};

TEST_F(ProgressE2eTest, BackupJsonProgressEndsAtTheFinalCountsAndStdoutStaysOneDocument) {
  RunResult r = RunArca({"backup", src_, "--repo", repo_, "--progress", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  // stdout: exactly the one result document.
  ASSERT_EQ(Lines(r.out).size(), 1u) << r.out;
  google::protobuf::Struct doc = Parse(r.out);
  const auto& stats = doc.fields().at("stats").struct_value().fields();
  EXPECT_EQ(Number(stats.at("files")), 3);

  google::protobuf::Struct last = CheckProgressLines(r, "backup");
  EXPECT_EQ(last.fields().at("files").number_value(), Number(stats.at("files")));
  EXPECT_EQ(last.fields().at("bytes").number_value(), Number(stats.at("bytes_collected")));
  EXPECT_EQ(last.fields().at("bytes").number_value(), (5 << 20) + 6 + 70000);
  EXPECT_EQ(last.fields().at("bytes_total").number_value(), (5 << 20) + 6 + 70000);
  EXPECT_EQ(last.fields().at("entries").number_value(),
            Number(stats.at("files")) + Number(stats.at("directories")));
  EXPECT_EQ(last.fields().at("warnings").number_value(), 0);
}

TEST_F(ProgressE2eTest, RestoreAndVerifyJsonProgressEndAtTheirResults) {
  RunResult b = RunArca({"backup", src_, "--repo", repo_});
  ASSERT_EQ(b.exit_code, 0) << b.Describe();
  RunResult r = RunArca(
      {"restore", "latest", NewTempDir("target") + "/t", "--repo", repo_, "--progress", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  ASSERT_EQ(Lines(r.out).size(), 1u) << r.out;
  google::protobuf::Struct doc = Parse(r.out);
  google::protobuf::Struct last = CheckProgressLines(r, "restore");
  EXPECT_EQ(last.fields().at("bytes").number_value(), Number(doc.fields().at("bytes")));
  EXPECT_EQ(last.fields().at("entries").number_value(), Number(doc.fields().at("entries")));
  EXPECT_EQ(last.fields().at("files").number_value(), 3);
  EXPECT_EQ(last.fields().at("percent").number_value(), 100);

  RunResult v = RunArca({"verify", "--repo", repo_, "--progress", "--json"});
  ASSERT_EQ(v.exit_code, 0) << v.Describe();
  ASSERT_EQ(Lines(v.out).size(), 1u) << v.out;
  google::protobuf::Struct vdoc = Parse(v.out);
  google::protobuf::Struct vlast = CheckProgressLines(v, "verify");
  EXPECT_EQ(vlast.fields().at("chunks").number_value(), Number(vdoc.fields().at("chunks")));
  EXPECT_EQ(vlast.fields().at("chunks_total").number_value(), Number(vdoc.fields().at("chunks")));
  EXPECT_EQ(vlast.fields().at("bytes").number_value(), Number(vdoc.fields().at("bytes")));
}

TEST_F(ProgressE2eTest, QuietOnANonTerminalUnlessAsked) {
  // The runner's stderr is a pipe: no progress without --progress.
  RunResult j = RunArca({"backup", src_, "--repo", repo_, "--json"});
  ASSERT_EQ(j.exit_code, 0) << j.Describe();
  EXPECT_EQ(j.err, "");
  ASSERT_EQ(Lines(j.out).size(), 1u) << j.out;
  RunResult human = RunArca({"backup", src_, "--repo", repo_});
  ASSERT_EQ(human.exit_code, 0) << human.Describe();
  EXPECT_EQ(human.err.find('\r'), std::string::npos) << human.err;
  EXPECT_EQ(human.err.find("backup done"), std::string::npos) << human.err;
  RunResult v = RunArca({"verify", "--repo", repo_, "--json"});
  ASSERT_EQ(v.exit_code, 0) << v.Describe();
  EXPECT_EQ(v.err, "");
  // --no-progress wins over --progress.
  RunResult off = RunArca({"verify", "--repo", repo_, "--json", "--progress", "--no-progress"});
  ASSERT_EQ(off.exit_code, 0) << off.Describe();
  EXPECT_EQ(off.err, "");
}

TEST_F(ProgressE2eTest, ForcedHumanLineIsRewrittenWithCarriageReturns) {
  RunResult r = RunArca({"backup", src_, "--repo", repo_, "--progress"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  ASSERT_EQ(r.err.rfind("\r", 0), 0u) << r.err;
  const std::string final_line = FirstLine(r.err);
  EXPECT_NE(final_line.find("backup done  3 files  5.1 MiB/5.1 MiB  100%"), std::string::npos)
      << final_line;
  EXPECT_EQ(final_line.substr(final_line.size() - 3), "\033[K");
  // Then the usual summary, on lines of their own.
  EXPECT_NE(r.err.find("\nfiles 3, directories 1"), std::string::npos) << r.err;
}

TEST_F(ProgressE2eTest, FailedRunEndsStoppedNotDone) {
  RunResult r = RunArca({"backup", src_ + "/missing", "--repo", repo_, "--progress"});
  ASSERT_EQ(r.exit_code, 9) << r.Describe();
  EXPECT_EQ(FirstLine(r.err), "\rbackup stopped  0 files  0 B\033[K") << r.err;
  EXPECT_NE(r.err.find("\narca: backup failed in phase collection"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace arca::e2e
