#include "gtest/gtest.h"
#include "libs/base/cli_flags.h"
#include "tools/arca/output.h"

namespace arca::cli {
namespace {

TEST(ParseArgs, FlagsAndPositionalsInAnyOrder) {
  FlagSpec spec{{"repo", "exclude"}, {"json"}};
  auto a = ParseArgs({"--exclude", "*.o", "/src", "--repo=/r", "--json", "--exclude=x"}, spec);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->positional, std::vector<std::string>{"/src"});
  EXPECT_EQ(a->Last("repo"), "/r");
  EXPECT_EQ(a->All("exclude"), (std::vector<std::string>{"*.o", "x"}));
  EXPECT_TRUE(a->Has("json"));
}

TEST(ParseArgs, Errors) {
  FlagSpec spec{{"repo"}, {"json"}};
  EXPECT_EQ(ParseArgs({"--nope"}, spec).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ParseArgs({"--nope"}, spec).status().message().find("--nope"), std::string::npos);
  EXPECT_EQ(ParseArgs({"--repo"}, spec).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseArgs({"--json=1"}, spec).status().code(), absl::StatusCode::kInvalidArgument);
  auto dash = ParseArgs({"--", "--json"}, spec);
  ASSERT_TRUE(dash.ok());
  EXPECT_EQ(dash->positional, std::vector<std::string>{"--json"});
}

TEST(Output, JsonStringEscapesAndKeepsNonUtf8Distinct) {
  EXPECT_EQ(JsonString("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
  EXPECT_EQ(JsonString("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
  EXPECT_EQ(JsonString("bad\xff"), "\"bad\\u00ff\"");
  EXPECT_EQ(JsonString(std::string("\x01", 1)), "\"\\u0001\"");
}

TEST(Output, S3RequestsJson) {
  s3::RequestCounts counts;
  EXPECT_EQ(S3RequestsJson(counts), "{\"total\":0,\"retries\":0,\"by_op\":{}}");
  counts.by_op = {{"GetObject", 2}, {"ListObjectsV2", 1}};
  counts.total = 3;
  counts.retries = 1;
  EXPECT_EQ(S3RequestsJson(counts),
            "{\"total\":3,\"retries\":1,\"by_op\":{\"GetObject\":2,\"ListObjectsV2\":1}}");
}

TEST(Output, ModeString) {
  EXPECT_EQ(ModeString(v1::ENTRY_TYPE_DIRECTORY, 01777), "drwxrwxrwt");
  EXPECT_EQ(ModeString(v1::ENTRY_TYPE_REGULAR, 04755), "-rwsr-xr-x");
  EXPECT_EQ(ModeString(v1::ENTRY_TYPE_REGULAR, 02644), "-rw-r-Sr--");
  EXPECT_EQ(ModeString(v1::ENTRY_TYPE_REGULAR, 0), "----------");
}

TEST(Output, TimeStringIsUtcWithNanoseconds) {
  EXPECT_EQ(TimeString(1234567890123456789LL), "2009-02-13 23:31:30.123456789");
  EXPECT_EQ(TimeString(-1), "1969-12-31 23:59:59.999999999");
}

}  // namespace
}  // namespace arca::cli
