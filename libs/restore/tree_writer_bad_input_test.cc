// Hostile or damaged entries: TreeWriter refuses them with a clear error and
// never writes outside its target. Runs under ASan/UBSan in CI.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/restore/tree_writer.h"

namespace arca {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::vector<std::string> List(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return {"<cannot list " + dir + ">"};
  while (struct dirent* de = readdir(d)) {
    std::string n = de->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  closedir(d);
  return out;
}

v1::Entry Make(const std::string& path, v1::EntryType type) {
  v1::Entry e;
  e.set_path(path);
  e.set_type(type);
  e.set_mode(type == v1::ENTRY_TYPE_DIRECTORY ? 0755 : 0644);
  e.set_mtime_ns(1);
  return e;
}

// base/ holds only outer/, outer/ holds only target/: anything written
// outside the target shows up in one of them.
class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    base_ = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_EQ(std::system(("rm -rf '" + base_ + "'").c_str()), 0);
    target_ = base_ + "/outer/target";
    auto w = TreeWriter::Open(target_);
    ASSERT_TRUE(w.ok()) << w.status();
    w_ = std::move(w).value();
  }
  void TearDown() override {
    EXPECT_THAT(List(base_), ElementsAre("outer"));
    EXPECT_THAT(List(base_ + "/outer"), ElementsAre("target"));
  }

  void ExpectRefused(const std::string& path, const std::string& shown) {
    absl::Status s = w_->BeginEntry(Make(path, v1::ENTRY_TYPE_REGULAR));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << shown;
    EXPECT_THAT(s.message(), HasSubstr(absl::StrCat("refusing to restore '", shown,
                                                    "': it would write outside ", target_)));
  }

  std::string base_, target_;
  std::unique_ptr<TreeWriter> w_;
};

TEST_F(BadInputTest, RefusesPathsThatLeaveTheTarget) {
  ExpectRefused("../x", "../x");
  ExpectRefused("/etc/x", "/etc/x");
  ExpectRefused("a/../../b", "a/../../b");
  ExpectRefused("a//b", "a//b");
  ExpectRefused("a/./b", "a/./b");
  ExpectRefused("a/b/..", "a/b/..");
  ExpectRefused(".", ".");
  ExpectRefused("..", "..");
  ExpectRefused("/", "/");
  ExpectRefused("a/", "a/");
  ExpectRefused(std::string("a\0/../../b", 10), "a\\x00/../../b");
  ExpectRefused(std::string("evil\0name", 9), "evil\\x00name");
  EXPECT_THAT(List(target_), IsEmpty());
  // The writer is still usable.
  ASSERT_TRUE(w_->BeginEntry(Make("fine", v1::ENTRY_TYPE_DIRECTORY)).ok());
  ASSERT_TRUE(w_->FinishEntry().ok());
  ASSERT_TRUE(w_->Finish().ok());
  EXPECT_THAT(List(target_), ElementsAre("fine"));
}

TEST_F(BadInputTest, RefusesHardlinkTargetsThatLeaveTheTarget) {
  ASSERT_TRUE(w_->BeginEntry(Make("f", v1::ENTRY_TYPE_REGULAR)).ok());
  ASSERT_TRUE(w_->FinishEntry().ok());
  for (const std::string& t :
       {std::string("../outer_file"), std::string("/etc/passwd"), std::string("a/../../etc/passwd"),
        std::string("f/.."), std::string("f\0", 2)}) {
    v1::Entry h = Make("h", v1::ENTRY_TYPE_HARDLINK);
    h.set_hardlink_target(t);
    absl::Status s = w_->BeginEntry(h);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << t;
    EXPECT_THAT(s.message(), HasSubstr("it would write outside")) << t;
  }
  for (const std::string& t : {std::string(""), std::string("h")}) {
    v1::Entry h = Make("h", v1::ENTRY_TYPE_HARDLINK);
    h.set_hardlink_target(t);
    absl::Status s = w_->BeginEntry(h);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << t;
    EXPECT_THAT(s.message(), HasSubstr("must be another file")) << t;
  }
  EXPECT_THAT(List(target_), ElementsAre("f"));
}

TEST_F(BadInputTest, RefusesUnrestorableTypesAndRoots) {
  for (int type : {0, 8, 99, -1}) {
    absl::Status s = w_->BeginEntry(Make("x", static_cast<v1::EntryType>(type)));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << type;
    EXPECT_THAT(s.message(), HasSubstr("is not restorable")) << type;
  }
  absl::Status s = w_->BeginEntry(Make("", v1::ENTRY_TYPE_REGULAR));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("root entry"));
  v1::Entry l = Make("l", v1::ENTRY_TYPE_SYMLINK);
  s = w_->BeginEntry(l);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("target is empty"));
  l.set_symlink_target(std::string("a\0b", 3));
  EXPECT_EQ(w_->BeginEntry(l).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(List(target_), IsEmpty());
}

TEST_F(BadInputTest, RefusesExtentsOutsideTheFile) {
  struct Case {
    uint64_t size, off1, len1, off2, len2;
  };
  for (const Case& c : {Case{100, 90, 20, 0, 0},         // past the end
                        Case{100, 10, 10, 15, 5},        // overlapping
                        Case{100, 50, 10, 10, 5},        // out of order
                        Case{100, UINT64_MAX, 2, 0, 0},  // overflowing
                        Case{100, 1, UINT64_MAX, 0, 0}}) {
    v1::Entry f = Make("s", v1::ENTRY_TYPE_REGULAR);
    f.set_size(c.size);
    f.set_sparse(true);
    f.add_extents()->set_offset(c.off1);
    f.mutable_extents(0)->set_length(c.len1);
    if (c.len2 > 0) {
      f.add_extents()->set_offset(c.off2);
      f.mutable_extents(1)->set_length(c.len2);
    }
    absl::Status s = w_->BeginEntry(f);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.off1;
    EXPECT_THAT(s.message(), HasSubstr("lies beyond the file size"));
  }
}

TEST_F(BadInputTest, RefusesBadXattrNamesAndAcls) {
  v1::Entry f = Make("f", v1::ENTRY_TYPE_REGULAR);
  f.add_xattrs()->set_name(std::string("user.a\0b", 8));
  ASSERT_TRUE(w_->BeginEntry(f).ok());
  absl::Status s = w_->FinishEntry();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("holds a NUL byte"));

  v1::Entry g = Make("g", v1::ENTRY_TYPE_REGULAR);
  v1::AclEntry* a = g.add_acl_access();  // a named user without the rest
  a->set_tag(2);
  a->set_id(7);
  a->set_perm(7);
  ASSERT_TRUE(w_->BeginEntry(g).ok());
  s = w_->FinishEntry();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("the kernel rejects it as invalid"));
}

TEST_F(BadInputTest, SymlinkPointingOutsideIsStoredNotFollowed) {
  v1::Entry l = Make("escape", v1::ENTRY_TYPE_SYMLINK);
  l.set_symlink_target("../../..");
  ASSERT_TRUE(w_->BeginEntry(l).ok());
  ASSERT_TRUE(w_->FinishEntry().ok());
  // Entries below the symlink replace it with a directory.
  v1::Entry f = Make("escape/x", v1::ENTRY_TYPE_REGULAR);
  f.set_size(3);
  ASSERT_TRUE(w_->BeginEntry(f).ok());
  ASSERT_TRUE(w_->WriteData(Bytes("abc")).ok());
  ASSERT_TRUE(w_->FinishEntry().ok());
  v1::Entry h = Make("escape/h", v1::ENTRY_TYPE_HARDLINK);
  h.set_hardlink_target("escape/x");
  ASSERT_TRUE(w_->BeginEntry(h).ok());
  ASSERT_TRUE(w_->FinishEntry().ok());
  ASSERT_TRUE(w_->Finish().ok());
  EXPECT_THAT(List(target_ + "/escape"), UnorderedElementsAre("x", "h"));
}

// splitmix64
uint64_t Next(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Random entries built from hostile pieces: whatever is accepted stays inside
// the target, whatever is refused says why, and nothing crashes.
TEST_F(BadInputTest, RandomHostileEntriesStayInside) {
  const std::vector<std::string> parts = {
      "a", "b", "..", ".", "", "c d", "/", std::string("\0", 1), "x\ny", "\xff", "dir", "f"};
  uint64_t seed = 12345;
  int accepted = 0, refused = 0;
  for (int round = 0; round < 40; ++round) {
    auto w = TreeWriter::Open(target_);
    ASSERT_TRUE(w.ok());
    for (int i = 0; i < 40; ++i) {
      std::string path;
      int n = static_cast<int>(Next(seed) % 4);
      for (int k = 0; k <= n; ++k) {
        if (k > 0 || Next(seed) % 8 == 0) path += "/";
        path += parts[Next(seed) % parts.size()];
      }
      v1::Entry e;
      e.set_path(path);
      e.set_type(static_cast<v1::EntryType>(Next(seed) % 10));
      e.set_mode(static_cast<uint32_t>(Next(seed)));
      e.set_mtime_ns(static_cast<int64_t>(Next(seed)));
      e.set_atime_ns(static_cast<int64_t>(Next(seed) % 3));
      e.set_size(Next(seed) % 40);
      e.set_nlink(static_cast<uint32_t>(Next(seed) % 3));
      e.set_symlink_target(parts[Next(seed) % parts.size()] + "/" +
                           parts[Next(seed) % parts.size()]);
      e.set_hardlink_target(parts[Next(seed) % parts.size()]);
      e.set_rdev(Next(seed) % 1024);
      if (Next(seed) % 2) {
        e.set_sparse(true);
        int ne = static_cast<int>(Next(seed) % 3);
        for (int k = 0; k < ne; ++k) {
          v1::Extent* x = e.add_extents();
          x->set_offset(Next(seed) % 50);
          x->set_length(Next(seed) % 20);
        }
      }
      absl::Status s = (*w)->BeginEntry(e);
      if (!s.ok()) {
        EXPECT_FALSE(s.message().empty());
        ++refused;
        continue;
      }
      ++accepted;
      std::string data(Next(seed) % 48, 'd');
      size_t piece = 1 + Next(seed) % 16;
      for (size_t off = 0; off < data.size(); off += piece) {
        if (!(*w)->WriteData(Bytes(data.substr(off, piece))).ok()) break;
      }
      absl::Status f = (*w)->FinishEntry();
      if (!f.ok()) EXPECT_FALSE(f.message().empty());
    }
    absl::Status s = (*w)->Finish();
    if (!s.ok()) EXPECT_FALSE(s.message().empty());
    (*w)->TakeWarnings();
  }
  EXPECT_GT(accepted, 100);
  EXPECT_GT(refused, 100);
  // TearDown checks that nothing appeared next to the target.
}

}  // namespace
}  // namespace arca
