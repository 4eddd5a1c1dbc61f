#include "libs/pipeline/restore_selection.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace arca {
namespace {

v1::Entry Dir(const std::string& path) {
  v1::Entry e;
  e.set_path(path);
  e.set_type(v1::ENTRY_TYPE_DIRECTORY);
  e.set_mode(0755);
  return e;
}

v1::Entry File(const std::string& path, uint32_t nlink = 1, uint64_t off = 0) {
  v1::Entry e;
  e.set_path(path);
  e.set_type(v1::ENTRY_TYPE_REGULAR);
  e.set_size(3);
  e.set_nlink(nlink);
  e.mutable_payload()->set_offset(off);
  e.mutable_payload()->set_length(3);
  return e;
}

v1::Entry Link(const std::string& path, const std::string& target) {
  v1::Entry e;
  e.set_path(path);
  e.set_type(v1::ENTRY_TYPE_HARDLINK);
  e.set_hardlink_target(target);
  return e;
}

std::vector<std::string> Paths(const std::vector<v1::Entry>& v) {
  std::vector<std::string> out;
  for (const v1::Entry& e : v) out.push_back(e.path());
  return out;
}

std::vector<v1::Entry> SelectAll(RestoreSelection& sel, const std::vector<v1::Entry>& in) {
  std::vector<v1::Entry> out;
  for (const v1::Entry& e : in) {
    absl::Status st = sel.Select(e, &out);
    EXPECT_TRUE(st.ok()) << st;
  }
  return out;
}

TEST(RestoreSelection, WithoutIncludesEverythingPassesUnchanged) {
  absl::StatusOr<RestoreSelection> sel = RestoreSelection::Create({}, "s");
  ASSERT_TRUE(sel.ok());
  EXPECT_FALSE(sel->filtered());
  std::vector<v1::Entry> out =
      SelectAll(*sel, {Dir(""), Dir("a"), File("a/f", 2), Link("b", "a/f")});
  EXPECT_EQ(Paths(out), (std::vector<std::string>{"", "a", "a/f", "b"}));
  EXPECT_EQ(out[3].type(), v1::ENTRY_TYPE_HARDLINK);
  EXPECT_EQ(out[3].hardlink_target(), "a/f");
}

TEST(RestoreSelection, IncludedEntriesGetTheirAncestorsFirst) {
  absl::StatusOr<RestoreSelection> sel = RestoreSelection::Create({"a/b/c"}, "s");
  ASSERT_TRUE(sel.ok());
  std::vector<v1::Entry> out = SelectAll(
      *sel, {Dir(""), Dir("a"), File("a/x"), Dir("a/b"), Dir("a/b/c"), File("a/b/c/f"), Dir("z")});
  EXPECT_EQ(Paths(out), (std::vector<std::string>{"", "a", "a/b", "a/b/c", "a/b/c/f"}));
}

TEST(RestoreSelection, HardlinkWhoseFirstNameIsFilteredOutBecomesTheFile) {
  absl::StatusOr<RestoreSelection> sel = RestoreSelection::Create({"keep"}, "s");
  ASSERT_TRUE(sel.ok());
  std::vector<v1::Entry> out =
      SelectAll(*sel, {Dir(""), Dir("drop"), File("drop/first", 3, 77), Dir("keep"),
                       Link("keep/second", "drop/first"), Link("keep/third", "drop/first")});
  EXPECT_EQ(Paths(out), (std::vector<std::string>{"", "keep", "keep/second", "keep/third"}));
  EXPECT_EQ(out[2].type(), v1::ENTRY_TYPE_REGULAR);
  EXPECT_EQ(out[2].payload().offset(), 77u);
  EXPECT_EQ(out[3].type(), v1::ENTRY_TYPE_HARDLINK);
  EXPECT_EQ(out[3].hardlink_target(), "keep/second");
}

TEST(RestoreSelection, HardlinkToNoEarlierFileIsDataLoss) {
  absl::StatusOr<RestoreSelection> sel = RestoreSelection::Create({"keep"}, "snap/1");
  ASSERT_TRUE(sel.ok());
  std::vector<v1::Entry> out;
  ASSERT_TRUE(sel->Select(Dir(""), &out).ok());
  absl::Status st = sel->Select(Link("keep/x", "nowhere"), &out);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(st.message().find("'nowhere', which is not an earlier file of snapshot snap/1"),
            absl::string_view::npos)
      << st;
}

TEST(RestoreSelection, BadPatternIsInvalidArgument) {
  absl::StatusOr<RestoreSelection> sel = RestoreSelection::Create({"[abc"}, "s");
  EXPECT_EQ(sel.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace arca
