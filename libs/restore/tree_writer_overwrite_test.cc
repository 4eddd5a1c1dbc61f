// TreeWriter over an existing target: the overwrite policies (always,
// if-changed, never) and delete_extraneous, on the real file system.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/fs/fault_injection_writable_file_system.h"
#include "libs/restore/tree_writer.h"

namespace arca {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr int64_t kMtime = 1234567890123456789;

std::string Scratch(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", name);
  EXPECT_EQ(std::system(("rm -rf '" + dir + "'").c_str()), 0);
  return dir;
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

v1::Entry Make(const std::string& path, v1::EntryType type, uint32_t mode) {
  v1::Entry e;
  e.set_path(path);
  e.set_type(type);
  e.set_mode(mode);
  e.set_mtime_ns(kMtime);
  e.set_nlink(1);
  e.set_uid(getuid());
  e.set_gid(getgid());
  return e;
}

v1::Entry Dir(const std::string& path) { return Make(path, v1::ENTRY_TYPE_DIRECTORY, 0755); }

v1::Entry File(const std::string& path, const std::string& content) {
  v1::Entry e = Make(path, v1::ENTRY_TYPE_REGULAR, 0644);
  e.set_size(content.size());
  return e;
}

v1::Entry Symlink(const std::string& path, const std::string& target) {
  v1::Entry e = Make(path, v1::ENTRY_TYPE_SYMLINK, 0777);
  e.set_symlink_target(target);
  return e;
}

std::string ReadFile(const std::string& path) {
  std::string out;
  FILE* f = fopen(path.c_str(), "rb");
  if (f == nullptr) return "<missing>";
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  fclose(f);
  return out;
}

void WriteFile(const std::string& path, const std::string& content) {
  FILE* f = fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  fwrite(content.data(), 1, content.size(), f);
  fclose(f);
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

ino_t Inode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

// One file tree: the entries and each regular file's content.
struct Item {
  v1::Entry entry;
  std::string data;
};

std::vector<Item> Tree() {
  return {{Dir(""), ""},
          {File("a.txt", "alpha"), "alpha"},
          {Dir("d"), ""},
          {File("d/b.txt", "bravo"), "bravo"},
          {Symlink("d/l", "b.txt"), ""},
          {Dir("d/e"), ""},
          {File("d/e/c.txt", "charlie"), "charlie"}};
}

struct Outcome {
  absl::Status status;
  uint64_t written = 0;
  uint64_t skipped = 0;
  uint64_t deleted = 0;
  uint64_t bytes = 0;
  std::vector<std::string> deleted_paths;
  std::vector<v1::Warning> warnings;
  // Regular files whose data the writer did not want (skipping_entry()).
  std::vector<std::string> data_skipped;
};

Outcome Restore(const std::string& target, const std::vector<Item>& items,
                TreeWriterOptions options, fs::WritableFileSystem* wfs = nullptr) {
  Outcome out;
  absl::StatusOr<std::unique_ptr<TreeWriter>> w = TreeWriter::Open(target, wfs, std::move(options));
  if (!w.ok()) {
    out.status = w.status();
    return out;
  }
  for (const Item& i : items) {
    out.status = (*w)->BeginEntry(i.entry);
    if (!out.status.ok()) return out;
    if ((*w)->skipping_entry()) {
      if (i.entry.type() == v1::ENTRY_TYPE_REGULAR) out.data_skipped.push_back(i.entry.path());
    } else if (!i.data.empty()) {
      out.status = (*w)->WriteData(Bytes(i.data));
      if (!out.status.ok()) return out;
    }
    out.status = (*w)->FinishEntry();
    if (!out.status.ok()) return out;
  }
  out.status = (*w)->Finish();
  out.written = (*w)->entries_written();
  out.skipped = (*w)->entries_skipped();
  out.deleted = (*w)->entries_deleted();
  out.bytes = (*w)->bytes_written();
  out.deleted_paths = (*w)->deleted_paths();
  out.warnings = (*w)->TakeWarnings();
  return out;
}

TreeWriterOptions With(OverwritePolicy p, bool del = false) {
  TreeWriterOptions o;
  o.overwrite = p;
  o.delete_extraneous = del;
  return o;
}

TEST(OverwritePolicyTest, ParsesTheCliWordsAndTheWire) {
  EXPECT_EQ(*ParseOverwritePolicy("always"), OverwritePolicy::kAlways);
  EXPECT_EQ(*ParseOverwritePolicy("if-changed"), OverwritePolicy::kIfChanged);
  EXPECT_EQ(*ParseOverwritePolicy("never"), OverwritePolicy::kNever);
  absl::StatusOr<OverwritePolicy> bad = ParseOverwritePolicy("sometimes");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(),
            "invalid --overwrite 'sometimes': use never, if-changed or always");
  for (OverwritePolicy p :
       {OverwritePolicy::kAlways, OverwritePolicy::kIfChanged, OverwritePolicy::kNever}) {
    EXPECT_EQ(*OverwritePolicyFromProto(OverwritePolicyToProto(p)), p);
    EXPECT_EQ(*ParseOverwritePolicy(OverwritePolicyName(p)), p);
  }
  EXPECT_EQ(*OverwritePolicyFromProto(v1::OVERWRITE_UNSPECIFIED), OverwritePolicy::kAlways);
  EXPECT_EQ(OverwritePolicyFromProto(17).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TreeWriterOverwriteTest, AlwaysReplacesEveryExistingEntry) {
  const std::string t = Scratch("always");
  ASSERT_TRUE(Restore(t, Tree(), {}).status.ok());
  WriteFile(t + "/a.txt", "changed!");
  // A second name of d/b.txt outside the target keeps the old inode alive.
  const std::string other = Scratch("always_other_name");
  ASSERT_EQ(link((t + "/d/b.txt").c_str(), other.c_str()), 0);
  WriteFile(t + "/d/b.txt", "old");
  Outcome o = Restore(t, Tree(), With(OverwritePolicy::kAlways));
  ASSERT_TRUE(o.status.ok()) << o.status;
  EXPECT_EQ(o.written, 7u);
  EXPECT_EQ(o.skipped, 0u);
  EXPECT_THAT(o.data_skipped, IsEmpty());
  EXPECT_EQ(ReadFile(t + "/a.txt"), "alpha");
  // Unlinked and created anew, never written through the other name.
  EXPECT_NE(Inode(t + "/d/b.txt"), Inode(other));
  EXPECT_EQ(ReadFile(other), "old");
  EXPECT_EQ(ReadFile(t + "/d/b.txt"), "bravo");
}

TEST(TreeWriterOverwriteTest, NeverKeepsExistingEntriesAndAddsMissingOnes) {
  const std::string t = Scratch("never");
  ASSERT_EQ(mkdir(t.c_str(), 0700), 0);
  ASSERT_EQ(mkdir((t + "/d").c_str(), 0711), 0);
  WriteFile(t + "/a.txt", "mine");
  // A file where the snapshot has directory d/e: kept, and nothing is
  // written below it.
  WriteFile(t + "/d/e", "not a directory");
  Outcome o = Restore(t, Tree(), With(OverwritePolicy::kNever));
  ASSERT_TRUE(o.status.ok()) << o.status;
  EXPECT_EQ(ReadFile(t + "/a.txt"), "mine");
  EXPECT_EQ(ReadFile(t + "/d/e"), "not a directory");
  EXPECT_EQ(ReadFile(t + "/d/b.txt"), "bravo");
  EXPECT_TRUE(Exists(t + "/d/l"));
  // Kept: the root, a.txt, d (metadata untouched), d/e and d/e/c.txt.
  EXPECT_EQ(o.skipped, 5u);
  EXPECT_EQ(o.written, 2u);  // d/b.txt and d/l
  EXPECT_THAT(o.data_skipped, ElementsAre("a.txt", "d/e/c.txt"));
  struct stat st {};
  ASSERT_EQ(lstat((t + "/d").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0711u);
}

TEST(TreeWriterOverwriteTest, IfChangedRewritesOnlyWhatDiffers) {
  const std::string t = Scratch("if_changed");
  ASSERT_TRUE(Restore(t, Tree(), {}).status.ok());
  const ino_t kept = Inode(t + "/d/b.txt");

  // Unchanged tree: everything is skipped, no data wanted.
  Outcome same = Restore(t, Tree(), With(OverwritePolicy::kIfChanged));
  ASSERT_TRUE(same.status.ok()) << same.status;
  EXPECT_EQ(same.written, 0u);
  EXPECT_EQ(same.skipped, 7u);
  EXPECT_EQ(same.bytes, 0u);
  EXPECT_THAT(same.data_skipped, ElementsAre("a.txt", "d/b.txt", "d/e/c.txt"));

  // Same size and mtime, other mode: rewritten. Other size: rewritten.
  // Other symlink target of the same length: rewritten.
  ASSERT_EQ(chmod((t + "/a.txt").c_str(), 0600), 0);
  WriteFile(t + "/d/e/c.txt", "changed");  // same size, new mtime
  ASSERT_EQ(unlink((t + "/d/l").c_str()), 0);
  ASSERT_EQ(symlink("c.txt", (t + "/d/l").c_str()), 0);
  struct timespec ts[2] = {{0, UTIME_OMIT}, {kMtime / 1000000000, kMtime % 1000000000}};
  ASSERT_EQ(utimensat(AT_FDCWD, (t + "/d/l").c_str(), ts, AT_SYMLINK_NOFOLLOW), 0);
  Outcome o = Restore(t, Tree(), With(OverwritePolicy::kIfChanged));
  ASSERT_TRUE(o.status.ok()) << o.status;
  EXPECT_EQ(ReadFile(t + "/d/e/c.txt"), "charlie");
  struct stat st {};
  ASSERT_EQ(lstat((t + "/a.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  char link[64] = {};
  ASSERT_EQ(readlink((t + "/d/l").c_str(), link, sizeof(link) - 1), 5);
  EXPECT_STREQ(link, "b.txt");
  EXPECT_EQ(Inode(t + "/d/b.txt"), kept);  // unchanged: not touched
  EXPECT_THAT(o.data_skipped, ElementsAre("d/b.txt"));
  // a.txt, d/l, d/e/c.txt, and the root, d and d/e (their mtimes changed
  // when a file in them was replaced).
  EXPECT_EQ(o.written, 6u);
  EXPECT_EQ(o.skipped, 1u);  // d/b.txt
}

TEST(TreeWriterOverwriteTest, KeptFileDiscardsDataButStillChecksItsLength) {
  const std::string t = Scratch("kept_data");
  ASSERT_EQ(mkdir(t.c_str(), 0700), 0);
  WriteFile(t + "/a.txt", "mine");
  absl::StatusOr<std::unique_ptr<TreeWriter>> w =
      TreeWriter::Open(t, nullptr, With(OverwritePolicy::kNever));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->BeginEntry(File("a.txt", "alpha")).ok());
  EXPECT_TRUE((*w)->skipping_entry());
  // A remote restore sends the data anyway: dropped.
  EXPECT_TRUE((*w)->WriteData(Bytes("alpha")).ok());
  absl::Status more = (*w)->WriteData(Bytes("!"));
  EXPECT_EQ(more.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(more.message(), HasSubstr("too much data for 'a.txt': 6 bytes arrived but its "
                                        "entry declares 5"));
  EXPECT_EQ(ReadFile(t + "/a.txt"), "mine");
}

TEST(TreeWriterOverwriteTest, NeverNeverFollowsASymlinkInTheTarget) {
  const std::string t = Scratch("never_symlink");
  const std::string outside = Scratch("never_symlink_outside");
  ASSERT_EQ(mkdir(t.c_str(), 0700), 0);
  ASSERT_EQ(mkdir(outside.c_str(), 0700), 0);
  // d is a symlink to a directory outside: kept, and nothing is written
  // through it.
  ASSERT_EQ(symlink(outside.c_str(), (t + "/d").c_str()), 0);
  Outcome o = Restore(t, Tree(), With(OverwritePolicy::kNever));
  ASSERT_TRUE(o.status.ok()) << o.status;
  EXPECT_FALSE(Exists(outside + "/b.txt"));
  EXPECT_FALSE(Exists(outside + "/e"));
  // if-changed replaces the symlink with the directory.
  Outcome c = Restore(t, Tree(), With(OverwritePolicy::kIfChanged));
  ASSERT_TRUE(c.status.ok()) << c.status;
  EXPECT_EQ(ReadFile(t + "/d/b.txt"), "bravo");
  EXPECT_FALSE(Exists(outside + "/b.txt"));
}

TEST(TreeWriterOverwriteTest, HardlinkToAKeptFileLinksToIt) {
  const std::string t = Scratch("kept_link");
  v1::Entry first = File("a.txt", "alpha");
  first.set_nlink(2);
  v1::Entry link = Make("h", v1::ENTRY_TYPE_HARDLINK, 0644);
  link.set_hardlink_target("a.txt");
  std::vector<Item> items = {{Dir(""), ""}, {first, "alpha"}, {link, ""}};
  ASSERT_TRUE(Restore(t, items, {}).status.ok());
  ASSERT_EQ(unlink((t + "/h").c_str()), 0);
  Outcome o = Restore(t, items, With(OverwritePolicy::kIfChanged));
  ASSERT_TRUE(o.status.ok()) << o.status;
  EXPECT_EQ(Inode(t + "/h"), Inode(t + "/a.txt"));
  // Already linked: kept.
  Outcome again = Restore(t, items, With(OverwritePolicy::kIfChanged));
  ASSERT_TRUE(again.status.ok()) << again.status;
  EXPECT_EQ(again.written, 0u);
  EXPECT_EQ(again.skipped, 3u);
  // The first name kept as a symlink under never: the hardlink is not made.
  const std::string n = Scratch("kept_link_never");
  ASSERT_EQ(mkdir(n.c_str(), 0700), 0);
  ASSERT_EQ(symlink("/etc/passwd", (n + "/a.txt").c_str()), 0);
  Outcome never = Restore(n, items, With(OverwritePolicy::kNever));
  ASSERT_TRUE(never.status.ok()) << never.status;
  EXPECT_FALSE(Exists(n + "/h"));
  ASSERT_EQ(never.warnings.size(), 1u);
  EXPECT_EQ(never.warnings[0].path(), "h");
  EXPECT_THAT(never.warnings[0].message(),
              HasSubstr("hardlink not restored: its first name 'a.txt' was kept"));
}

TEST(TreeWriterDeleteTest, RemovesWhatTheSnapshotLacksAndListsIt) {
  const std::string t = Scratch("delete");
  ASSERT_TRUE(Restore(t, Tree(), {}).status.ok());
  WriteFile(t + "/extra", "x");
  ASSERT_EQ(mkdir((t + "/d/old").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((t + "/d/old/deeper").c_str(), 0000), 0);
  WriteFile(t + "/d/old/f", "y");
  // A symlink to outside: removed itself, never followed.
  const std::string outside = Scratch("delete_outside");
  ASSERT_EQ(mkdir(outside.c_str(), 0700), 0);
  WriteFile(outside + "/precious", "z");
  ASSERT_EQ(symlink(outside.c_str(), (t + "/d/e/to_outside").c_str()), 0);

  Outcome o = Restore(t, Tree(), With(OverwritePolicy::kAlways, /*del=*/true));
  ASSERT_TRUE(o.status.ok()) << o.status;
  EXPECT_EQ(o.deleted, 5u);  // extra, d/old, d/old/deeper, d/old/f, the symlink
  EXPECT_THAT(o.deleted_paths, ElementsAre("extra", "d/old", "d/e/to_outside"));
  EXPECT_FALSE(Exists(t + "/extra"));
  EXPECT_FALSE(Exists(t + "/d/old"));
  EXPECT_FALSE(Exists(t + "/d/e/to_outside"));
  EXPECT_EQ(ReadFile(outside + "/precious"), "z");
  EXPECT_EQ(ReadFile(t + "/d/e/c.txt"), "charlie");
  // The directories still get the snapshot's mtime after the deletions.
  struct stat st {};
  ASSERT_EQ(lstat((t + "/d").c_str(), &st), 0);
  EXPECT_EQ(int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec, kMtime);
  // Nothing left to delete.
  Outcome again = Restore(t, Tree(), With(OverwritePolicy::kIfChanged, true));
  ASSERT_TRUE(again.status.ok()) << again.status;
  EXPECT_EQ(again.deleted, 0u);
  EXPECT_THAT(again.deleted_paths, IsEmpty());
  EXPECT_EQ(again.written, 0u);
}

TEST(TreeWriterDeleteTest, WithIncludesOnlyInsideTheSelectedDirectories) {
  const std::string t = Scratch("delete_scope");
  ASSERT_TRUE(Restore(t, Tree(), {}).status.ok());
  WriteFile(t + "/top_extra", "x");
  WriteFile(t + "/d/d_extra", "x");
  WriteFile(t + "/d/e/e_extra", "x");
  // What `--include d/e` sends: the ancestors "" and "d", then d/e and all
  // below it.
  std::vector<Item> all = Tree();
  std::vector<Item> selected = {all[0], all[2], all[5], all[6]};
  TreeWriterOptions o = With(OverwritePolicy::kAlways, true);
  o.delete_scope = *fs::PathMatcher::Create({"d/e"});
  Outcome r = Restore(t, selected, std::move(o));
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(r.deleted_paths, ElementsAre("d/e/e_extra"));
  EXPECT_TRUE(Exists(t + "/top_extra"));
  EXPECT_TRUE(Exists(t + "/d/d_extra"));
  EXPECT_TRUE(Exists(t + "/a.txt"));  // not selected, not in this restore: kept
}

TEST(TreeWriterDeleteTest, RefusesTheRootDirectory) {
  absl::StatusOr<std::unique_ptr<TreeWriter>> w =
      TreeWriter::Open("/", nullptr, With(OverwritePolicy::kAlways, true));
  ASSERT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(w.status().message(),
            "refusing --delete with restore target /: it is the root directory, and everything "
            "the snapshot does not have would be removed; restore into another directory, or "
            "without --delete");
}

TEST(TreeWriterDeleteTest, AFailedRemovalStopsWithThePath) {
  const std::string t = Scratch("delete_fault");
  ASSERT_TRUE(Restore(t, Tree(), {}).status.ok());
  WriteFile(t + "/d/extra", "x");
  fs::FaultInjectionWritableFileSystem faulty(fs::DefaultWritableFileSystem());
  fs::WriteFault f;
  f.op = fs::WriteOp::kUnlink;
  f.error_number = EACCES;
  f.path_pattern = "*/d/extra";
  faulty.Inject(f);
  Outcome o = Restore(t, Tree(), With(OverwritePolicy::kIfChanged, true), &faulty);
  EXPECT_EQ(o.status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(o.status.message(),
            absl::StrCat("cannot delete 'd/extra' in ", t,
                         " (not in the snapshot): Permission denied; run the restore as root "
                         "or choose a target you may write"));
  EXPECT_TRUE(Exists(t + "/d/extra"));
}

}  // namespace
}  // namespace arca
