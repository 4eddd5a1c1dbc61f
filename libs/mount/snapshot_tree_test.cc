// SnapshotTree::Build over hand-made entry lists: structure, hardlinks, link
// counts, and the damaged streams it refuses.
#include "libs/mount/snapshot_tree.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace arca::mount {
namespace {

v1::Entry E(const std::string& path, v1::EntryType type) {
  v1::Entry e;
  e.set_path(path);
  e.set_type(type);
  return e;
}
v1::Entry Dir(const std::string& p) { return E(p, v1::ENTRY_TYPE_DIRECTORY); }
v1::Entry File(const std::string& p) { return E(p, v1::ENTRY_TYPE_REGULAR); }
v1::Entry Link(const std::string& p, const std::string& target) {
  v1::Entry e = E(p, v1::ENTRY_TYPE_HARDLINK);
  e.set_hardlink_target(target);
  return e;
}

absl::StatusOr<SnapshotTree> BuildFrom(const std::vector<v1::Entry>& entries) {
  size_t i = 0;
  return SnapshotTree::Build(
      [&](v1::Entry* e) -> absl::StatusOr<bool> {
        if (i == entries.size()) return false;
        *e = entries[i++];
        return true;
      },
      "g/t");
}

TEST(SnapshotTreeTest, BuildsDirectoriesChildrenAndLinkCounts) {
  absl::StatusOr<SnapshotTree> t =
      BuildFrom({Dir(""), Dir("a"), File("a/x"), Dir("a/y"), Dir("a-b"), File("b"),
                 Link("c", "a/x"), Link("d/../e", "b")});
  // "d/../e" has no parent directory "d/..": refused.
  EXPECT_EQ(t.status().code(), absl::StatusCode::kDataLoss);

  t = BuildFrom({Dir(""), Dir("a"), File("a/x"), Dir("a/y"), Dir("a-b"), File("b"),
                 Link("c", "a/x"), Dir("d"), Link("d/e", "a/x")});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->size(), 9u);
  EXPECT_EQ(t->node(0).nlink, 2u + 3u);  // a, a-b, d
  std::optional<uint32_t> a = t->Find("a");
  ASSERT_TRUE(a);
  EXPECT_EQ(t->node(*a).nlink, 3u);  // a/y
  EXPECT_EQ(t->node(*a).name, "a");
  EXPECT_TRUE(t->node(*a).entry.path().empty()) << "paths are not kept";
  std::optional<uint32_t> x = t->Find("a/x");
  ASSERT_TRUE(x);
  EXPECT_EQ(t->node(*x).nlink, 3u) << "a/x, c and d/e";
  std::optional<uint32_t> de = t->Find("d/e");
  ASSERT_TRUE(de);
  EXPECT_EQ(t->Resolve(*de), *x);
  EXPECT_EQ(t->Resolve(*x), *x);
  EXPECT_EQ(t->node(*t->Find("b")).nlink, 1u);
  EXPECT_FALSE(t->Find("a/z"));
  EXPECT_FALSE(t->Find("b/z")) << "a file has no children";
  EXPECT_EQ(t->Child(0, "a-b"), t->Find("a-b"));
  std::vector<std::string> names;
  for (uint32_t c : t->node(0).children) names.push_back(t->node(c).name);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "a-b", "b", "c", "d"}));
}

TEST(SnapshotTreeTest, NamesCompareAsUnsignedBytes) {
  // 'z' (0x7A) < 0xE9 as unsigned bytes, though not as signed chars.
  absl::StatusOr<SnapshotTree> t = BuildFrom({Dir(""), File("a"), File("z\xFF"), File("\xE9")});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_FALSE(BuildFrom({Dir(""), File("\xE9"), File("z")}).ok());
  EXPECT_TRUE(t->Find("\xE9"));
  EXPECT_TRUE(t->Find("z\xFF"));
}

TEST(SnapshotTreeTest, RefusesDamagedStreams) {
  struct Case {
    std::vector<v1::Entry> entries;
    std::string message;
  } cases[] = {
      {{}, "no entries"},
      {{File("a")}, "instead of the root directory"},
      {{File("")}, "instead of the root directory"},
      {{Dir(""), File("b"), File("a")}, "out of archive order"},
      {{Dir(""), File("a"), File("a")}, "repeats a name"},
      {{Dir(""), File("a"), File("a/b")}, "has no parent directory"},
      {{Dir(""), Dir("a"), Link("b", "a")}, "not an earlier regular file"},
      {{Dir(""), Link("b", "nope")}, "not an earlier regular file"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<SnapshotTree> t = BuildFrom(c.entries);
    ASSERT_FALSE(t.ok()) << c.message;
    EXPECT_EQ(t.status().code(), absl::StatusCode::kDataLoss) << t.status();
    EXPECT_NE(t.status().message().find(c.message), std::string::npos) << t.status();
    EXPECT_NE(t.status().message().find("snapshot g/t"), std::string::npos) << t.status();
  }
}

TEST(SnapshotTreeTest, PassesOnReaderErrors) {
  absl::StatusOr<SnapshotTree> t = SnapshotTree::Build(
      [](v1::Entry*) -> absl::StatusOr<bool> { return absl::DataLossError("record 3: bad CRC"); },
      "g/t");
  EXPECT_EQ(t.status(), absl::DataLossError("record 3: bad CRC"));
}

}  // namespace
}  // namespace arca::mount
