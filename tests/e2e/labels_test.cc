// Labels through the real `arca` binary (embedded): `backup --label` writes
// them into the manifest, `snapshots` shows and filters by them, and
// `forget --label` applies its policy only among the labelled snapshots.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/e2e/arca_runner.h"

namespace arca::e2e {
namespace {

google::protobuf::Struct Parse(const std::string& text) {
  google::protobuf::Struct out;
  auto st = google::protobuf::util::JsonStringToMessage(text, &out);
  EXPECT_TRUE(st.ok()) << st.ToString() << "\n" << text;
  return out;
}

class LabelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = NewTempDir("src");
    repo_ = NewTempDir("repo") + "/repo";
    ASSERT_EQ(RunArca({"init", "--repo", repo_}).exit_code, 0);
    // Oldest first: prod, dev, prod, none.
    const std::vector<std::vector<std::string>> labels = {
        {"--label", "env=prod", "--label", "example.com/team=storage"},
        {"--label", "env=dev"},
        {"--label", "env=prod"},
        {}};
    for (size_t i = 0; i < labels.size(); ++i) {
      WriteFile(src_ + "/v.txt", "version " + std::to_string(i) + "\n");
      std::vector<std::string> args = {"backup", src_, "--repo", repo_};
      args.insert(args.end(), labels[i].begin(), labels[i].end());
      RunResult r = RunArca(args);
      ASSERT_EQ(r.exit_code, 0) << r.Describe();
      ids_.push_back(FirstLine(r.out));
    }
  }

  // id -> labels ("k=v,..." in key order) of `snapshots --json [extra]`.
  std::vector<std::pair<std::string, std::string>> Snapshots(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"snapshots", "--repo", repo_, "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = RunArca(args);
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    std::vector<std::pair<std::string, std::string>> out;
    google::protobuf::Struct doc = Parse("{\"list\":" + r.out + "}");
    for (const auto& v : doc.fields().at("list").list_value().values()) {
      const auto& f = v.struct_value().fields();
      std::string text;
      if (f.count("labels")) {
        std::map<std::string, std::string> sorted;
        for (const auto& [k, lv] : f.at("labels").struct_value().fields()) {
          sorted[k] = lv.string_value();
        }
        for (const auto& [k, lv] : sorted) text += (text.empty() ? "" : ",") + k + "=" + lv;
      }
      out.emplace_back(f.at("id").string_value(), text);
    }
    return out;
  }

  std::string src_, repo_;
  std::vector<std::string> ids_;
};

using Listing = std::vector<std::pair<std::string, std::string>>;

TEST_F(LabelsTest, BackupStoresLabelsAndSnapshotsShowsAndFiltersThem) {
  EXPECT_EQ(Snapshots(), (Listing{{ids_[0], "env=prod,example.com/team=storage"},
                                  {ids_[1], "env=dev"},
                                  {ids_[2], "env=prod"},
                                  {ids_[3], ""}}));
  EXPECT_EQ(Snapshots({"--label", "env=prod"}),
            (Listing{{ids_[0], "env=prod,example.com/team=storage"}, {ids_[2], "env=prod"}}));
  EXPECT_EQ(Snapshots({"--label", "env=prod", "--label", "example.com/team=storage"}),
            (Listing{{ids_[0], "env=prod,example.com/team=storage"}}));
  EXPECT_EQ(Snapshots({"--label", "env=staging"}), Listing{});

  RunResult table = RunArca({"snapshots", "--repo", repo_});
  ASSERT_EQ(table.exit_code, 0) << table.Describe();
  EXPECT_NE(table.out.find("LABELS"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("env=prod,example.com/team=storage"), std::string::npos) << table.out;
}

TEST_F(LabelsTest, ForgetWithLabelConsidersOnlyMatchingSnapshots) {
  RunResult r =
      RunArca({"forget", "--repo", repo_, "--keep-last", "1", "--label", "env=prod", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  google::protobuf::Struct doc = Parse(r.out);
  EXPECT_EQ(doc.fields().at("policy").string_value(),
            "keep 1 last snapshots among snapshots labelled env=prod");
  EXPECT_EQ(doc.fields().at("kept").number_value(), 3);
  EXPECT_EQ(doc.fields().at("removed").number_value(), 1);
  const auto& list = doc.fields().at("snapshots").list_value().values();
  ASSERT_EQ(list.size(), 4);
  const std::vector<std::string> reasons = {"", "label mismatch", "last snapshot",
                                            "label mismatch"};
  for (int i = 0; i < 4; ++i) {
    const auto& s = list[i].struct_value().fields();
    EXPECT_EQ(s.at("id").string_value(), ids_[i]);
    EXPECT_EQ(s.at("removed").bool_value(), i == 0) << i;
    const auto& rs = s.at("reasons").list_value().values();
    EXPECT_EQ(rs.empty() ? "" : rs[0].string_value(), reasons[i]) << i;
  }
  // The unlabelled and dev snapshots stay, with the newer prod one.
  EXPECT_EQ(Snapshots(), (Listing{{ids_[1], "env=dev"}, {ids_[2], "env=prod"}, {ids_[3], ""}}));
  RunResult verify = RunArca({"verify", "--repo", repo_});
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();
}

TEST_F(LabelsTest, InvalidLabelsAreUsageErrors) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"backup", src_, "--repo", repo_, "--label", "env"},
           {"backup", src_, "--repo", repo_, "--label", "bad key=x"},
           {"backup", src_, "--repo", repo_, "--label", "env=-x"},
           {"backup", src_, "--repo", repo_, "--label", "env=a", "--label", "env=b"},
           {"snapshots", "--repo", repo_, "--label", "Bad.Prefix/k=v"},
           {"forget", "--repo", repo_, "--keep-last", "1", "--label", "=v"}}) {
    RunResult r = RunArca(args);
    EXPECT_EQ(r.exit_code, 2) << r.Describe();
    EXPECT_NE(r.err.find("--label"), std::string::npos) << r.Describe();
  }
  EXPECT_EQ(Snapshots().size(), 4u);  // no backup was written
}

}  // namespace
}  // namespace arca::e2e
