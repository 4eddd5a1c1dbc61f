#include "libs/base/labels.h"

#include <map>
#include <string>

#include "gtest/gtest.h"

namespace arca {
namespace {

TEST(LabelsTest, KubernetesKeys) {
  for (const char* good :
       {"app", "app.kubernetes.io/name", "a", "A-b_c.d", "x/y", "example.com/tier", "k8s.io/1"}) {
    EXPECT_TRUE(CheckLabelKey(good, "labels").ok()) << good;
  }
  for (const char* bad : {"", "-app", "app-", "a b", "Example.com/x", "/x", "x/", "a/b/c", "é",
                          "a..b/x", "-a.com/x"}) {
    absl::Status st = CheckLabelKey(bad, "labels");
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(st.message().find("labels"), std::string::npos);
  }
  EXPECT_FALSE(CheckLabelKey(std::string(64, 'a'), "labels").ok());
  EXPECT_TRUE(CheckLabelKey(std::string(63, 'a'), "labels").ok());
  EXPECT_FALSE(CheckLabelKey(std::string(254, 'a') + "/x", "labels").ok());
}

TEST(LabelsTest, Values) {
  EXPECT_TRUE(CheckLabelValue("k", "", "labels").ok());
  EXPECT_TRUE(CheckLabelValue("k", "prod-1.a_b", "labels").ok());
  EXPECT_FALSE(CheckLabelValue("k", "-x", "labels").ok());
  EXPECT_FALSE(CheckLabelValue("k", std::string(64, 'v'), "labels").ok());
  EXPECT_FALSE(CheckLabelValue("k", "a/b", "labels").ok());
}

TEST(LabelsTest, MapAndCount) {
  std::map<std::string, std::string> m{{"env", "prod"}, {"team", "storage"}};
  EXPECT_TRUE(CheckLabels(m, "labels").ok());
  m["bad key"] = "x";
  EXPECT_FALSE(CheckLabels(m, "labels").ok());
  std::map<std::string, std::string> many;
  for (int i = 0; i < 65; ++i) many["k" + std::to_string(i)] = "v";
  EXPECT_EQ(CheckLabels(many, "labels").code(), absl::StatusCode::kInvalidArgument);
}

TEST(LabelsTest, ParseLabelFlags) {
  absl::StatusOr<std::map<std::string, std::string>> m =
      ParseLabelFlags({"env=prod", "example.com/team=storage", "empty=", "env=prod"}, "--label");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(*m, (std::map<std::string, std::string>{
                    {"empty", ""}, {"env", "prod"}, {"example.com/team", "storage"}}));
  absl::Status st = ParseLabelFlags({"env"}, "--label").status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "--label 'env': expected KEY=VALUE");
  st = ParseLabelFlags({"env=a", "env=b"}, "--label").status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("given twice"), std::string::npos) << st;
  st = ParseLabelFlags({"bad key=x"}, "--label").status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("--label"), std::string::npos) << st;
}

TEST(LabelsTest, HasLabels) {
  const std::map<std::string, std::string> have{{"env", "prod"}, {"team", "a"}};
  EXPECT_TRUE(HasLabels(have, std::map<std::string, std::string>{}));
  EXPECT_TRUE(HasLabels(have, std::map<std::string, std::string>{{"env", "prod"}}));
  EXPECT_TRUE(HasLabels(have, have));
  EXPECT_FALSE(HasLabels(have, std::map<std::string, std::string>{{"env", "dev"}}));
  EXPECT_FALSE(HasLabels(have, std::map<std::string, std::string>{{"env", "prod"}, {"x", ""}}));
  EXPECT_FALSE(HasLabels(std::map<std::string, std::string>{},
                         std::map<std::string, std::string>{{"env", "prod"}}));
}

}  // namespace
}  // namespace arca
