// End to end: an awkward tree is walked by hand (lstat/readdir, as a
// collector would), fed through TreeWriter into a new directory, and compared
// attribute by attribute with CompareTrees. This proves the writer and the
// comparison together.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/fs/testing/awkward_tree.h"
#include "libs/fs/testing/tree_compare.h"
#include "libs/restore/tree_writer.h"

namespace arca {
namespace {

using ::testing::IsEmpty;

std::string Scratch(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", name);
  EXPECT_EQ(std::system(("rm -rf '" + dir + "'").c_str()), 0);
  return dir;
}

int64_t Ns(const struct timespec& ts) { return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec; }

void DecodeAcl(const std::string& v, google::protobuf::RepeatedPtrField<v1::AclEntry>* out) {
  auto u16 = [&](size_t i) {
    return static_cast<uint32_t>(static_cast<uint8_t>(v[i])) |
           static_cast<uint32_t>(static_cast<uint8_t>(v[i + 1])) << 8;
  };
  for (size_t i = 4; i + 8 <= v.size(); i += 8) {
    v1::AclEntry* a = out->Add();
    a->set_tag(u16(i));
    a->set_perm(u16(i + 2));
    if (a->tag() == 2 || a->tag() == 8) a->set_id(u16(i + 4) | u16(i + 6) << 16);
  }
}

// A minimal collector: pre-order walk with *at() calls that streams every
// entry and its data into a TreeWriter.
class HandWalker {
 public:
  HandWalker(TreeWriter& w, size_t piece) : w_(w), piece_(piece) {}

  absl::Status WalkRoot(const std::string& root) {
    int fd = open(root.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return absl::NotFoundError(root);
    absl::Status s = Node(fd, ".", "");
    close(fd);
    return s;
  }

  uint64_t sparse_files() const { return sparse_files_; }

 private:
  absl::Status Node(int parent, const std::string& name, const std::string& rel) {
    struct stat st;
    if (fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return absl::InternalError(absl::StrCat("lstat ", rel));
    }
    v1::Entry e;
    e.set_path(rel);
    e.set_mode(st.st_mode & 07777);
    e.set_uid(st.st_uid);
    e.set_gid(st.st_gid);
    e.set_mtime_ns(Ns(st.st_mtim));
    e.set_atime_ns(Ns(st.st_atim));
    e.set_ctime_ns(Ns(st.st_ctim));
    e.set_nlink(static_cast<uint32_t>(st.st_nlink));
    e.set_dev(st.st_dev);
    e.set_ino(st.st_ino);
    ReadXattrs(parent, name, &e);

    if (S_ISDIR(st.st_mode)) {
      e.set_type(v1::ENTRY_TYPE_DIRECTORY);
      absl::Status s = w_.BeginEntry(e);
      if (s.ok()) s = w_.FinishEntry();
      if (!s.ok()) return s;
      int fd = openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      if (fd < 0) return absl::InternalError(absl::StrCat("open ", rel));
      std::vector<std::string> names;
      DIR* d = fdopendir(dup(fd));
      while (struct dirent* de = readdir(d)) {
        std::string n = de->d_name;
        if (n != "." && n != "..") names.push_back(n);
      }
      closedir(d);
      std::sort(names.begin(), names.end());
      for (const std::string& n : names) {
        s = Node(fd, n, rel.empty() ? n : rel + "/" + n);
        if (!s.ok()) break;
      }
      close(fd);
      return s;
    }
    if (S_ISREG(st.st_mode)) {
      if (st.st_nlink > 1) {
        auto [it, inserted] = first_name_.try_emplace(std::make_pair(st.st_dev, st.st_ino), rel);
        if (!inserted) {
          e.set_type(v1::ENTRY_TYPE_HARDLINK);
          e.set_hardlink_target(it->second);
          absl::Status s = w_.BeginEntry(e);
          return s.ok() ? w_.FinishEntry() : s;
        }
      }
      e.set_type(v1::ENTRY_TYPE_REGULAR);
      e.set_size(st.st_size);
      return Regular(parent, name, &e);
    }
    if (S_ISLNK(st.st_mode)) {
      e.set_type(v1::ENTRY_TYPE_SYMLINK);
      std::string target(4096, '\0');
      ssize_t n = readlinkat(parent, name.c_str(), target.data(), target.size());
      target.resize(n < 0 ? 0 : static_cast<size_t>(n));
      e.set_symlink_target(target);
      e.set_size(st.st_size);
    } else if (S_ISFIFO(st.st_mode)) {
      e.set_type(v1::ENTRY_TYPE_FIFO);
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      e.set_type(S_ISCHR(st.st_mode) ? v1::ENTRY_TYPE_CHAR_DEVICE : v1::ENTRY_TYPE_BLOCK_DEVICE);
      e.set_rdev(st.st_rdev);
    } else {
      return absl::OkStatus();  // sockets are not stored
    }
    absl::Status s = w_.BeginEntry(e);
    return s.ok() ? w_.FinishEntry() : s;
  }

  absl::Status Regular(int parent, const std::string& name, v1::Entry* e) {
    int fd = openat(parent, name.c_str(), O_RDONLY | O_NOFOLLOW);
    if (fd < 0) return absl::InternalError(absl::StrCat("open ", e->path()));
    const off_t size = static_cast<off_t>(e->size());
    std::vector<std::pair<off_t, off_t>> regions;  // [offset, length)
    off_t pos = 0, total = 0;
    while (pos < size) {
      off_t d = lseek(fd, pos, SEEK_DATA);
      if (d < 0) break;  // only a hole follows
      off_t h = std::min(lseek(fd, d, SEEK_HOLE), size);
      regions.emplace_back(d, h - d);
      total += h - d;
      pos = h;
    }
    if (total < size) {
      e->set_sparse(true);
      ++sparse_files_;
      for (const auto& [off, len] : regions) {
        v1::Extent* x = e->add_extents();
        x->set_offset(off);
        x->set_length(len);
      }
    } else {
      regions = {{0, size}};
    }
    absl::Status s = w_.BeginEntry(*e);
    std::string buf(piece_, '\0');
    for (const auto& [off, len] : regions) {
      for (off_t done = 0; s.ok() && done < len;) {
        size_t n = static_cast<size_t>(std::min<off_t>(static_cast<off_t>(piece_), len - done));
        ssize_t r = pread(fd, buf.data(), n, off + done);
        if (r <= 0) {
          s = absl::InternalError(absl::StrCat("read ", e->path()));
          break;
        }
        s = w_.WriteData(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(buf.data()),
                                                  static_cast<size_t>(r)));
        done += r;
      }
    }
    close(fd);
    if (!s.ok()) return s;
    return w_.FinishEntry();
  }

  static void ReadXattrs(int parent, const std::string& name, v1::Entry* e) {
    int fd = openat(parent, name.c_str(), O_PATH | O_NOFOLLOW);
    const std::string proc = absl::StrCat("/proc/self/fd/", fd);
    char names[4096];
    ssize_t n = listxattr(proc.c_str(), names, sizeof(names));
    std::vector<std::string> list;
    for (ssize_t i = 0; i < n; i += static_cast<ssize_t>(strlen(names + i)) + 1) {
      list.push_back(names + i);
    }
    std::sort(list.begin(), list.end());
    for (const std::string& x : list) {
      char value[4096];
      ssize_t len = getxattr(proc.c_str(), x.c_str(), value, sizeof(value));
      if (len < 0) continue;
      std::string v(value, static_cast<size_t>(len));
      if (x == "system.posix_acl_access") {
        DecodeAcl(v, e->mutable_acl_access());
      } else if (x == "system.posix_acl_default") {
        DecodeAcl(v, e->mutable_acl_default());
      } else {
        v1::Xattr* out = e->add_xattrs();
        out->set_name(x);
        out->set_value(v);
      }
    }
    close(fd);
  }

  TreeWriter& w_;
  size_t piece_;
  absl::flat_hash_map<std::pair<dev_t, ino_t>, std::string> first_name_;
  uint64_t sparse_files_ = 0;
};

absl::Status Restore(const std::string& src, const std::string& dst, size_t piece,
                     std::vector<v1::Warning>* warnings, uint64_t* sparse_files = nullptr) {
  auto w = TreeWriter::Open(dst);
  if (!w.ok()) return w.status();
  HandWalker walker(**w, piece);
  absl::Status s = walker.WalkRoot(src);
  if (s.ok()) s = (*w)->Finish();
  *warnings = (*w)->TakeWarnings();
  if (sparse_files != nullptr) *sparse_files = walker.sparse_files();
  return s;
}

std::string Lines(const std::vector<std::string>& v) { return absl::StrJoin(v, "\n"); }

TEST(TreeWriterRoundTripTest, AwkwardTreeIsRestoredExactly) {
  const std::string src = Scratch("rt_src");
  const std::string dst = Scratch("rt_dst");
  testing::AwkwardTreeOptions opts;
  opts.large_file_bytes = 16 << 20;
  std::vector<std::string> notes;
  opts.notes = &notes;
  ASSERT_TRUE(testing::MakeAwkwardTree(src, opts).ok());
  EXPECT_THAT(notes, IsEmpty());

  std::vector<v1::Warning> warnings;
  uint64_t sparse = 0;
  // 100,000-byte pieces: writes straddle extents and buffer boundaries.
  absl::Status s = Restore(src, dst, 100000, &warnings, &sparse);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(warnings, IsEmpty());
  EXPECT_GE(sparse, 1u);
  std::vector<std::string> diffs = testing::CompareTrees(src, dst);
  EXPECT_THAT(diffs, IsEmpty()) << Lines(diffs);
  struct stat st;
  ASSERT_EQ(lstat((dst + "/" + testing::kAwkwardSparseFile).c_str(), &st), 0);
  EXPECT_LT(st.st_blocks * 512, 1 << 20);

  // Restoring again over the restored tree replaces every entry in place
  // (files, hardlinks, symlinks, devices, 000 directories) and stays exact.
  s = Restore(src, dst, 7777, &warnings);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(warnings, IsEmpty());
  diffs = testing::CompareTrees(src, dst);
  EXPECT_THAT(diffs, IsEmpty()) << Lines(diffs);
}

TEST(TreeWriterRoundTripTest, ComparisonSeesADamagedRestore) {
  // The same pipeline with one entry altered in flight must not compare
  // clean: proves the round-trip check above can fail.
  const std::string src = Scratch("rt_bad_src");
  const std::string dst = Scratch("rt_bad_dst");
  testing::AwkwardTreeOptions opts;
  opts.large_file_bytes = 1 << 20;
  opts.small_files = 8;
  ASSERT_TRUE(testing::MakeAwkwardTree(src, opts).ok());
  std::vector<v1::Warning> warnings;
  ASSERT_TRUE(Restore(src, dst, 65536, &warnings).ok());
  ASSERT_THAT(testing::CompareTrees(src, dst), IsEmpty());
  ASSERT_EQ(chmod((dst + "/perms/setuid").c_str(), 0755), 0);
  EXPECT_THAT(testing::CompareTrees(src, dst),
              ::testing::ElementsAre("mode: 'perms/setuid': expected 4755, actual 0755"));
}

TEST(TreeWriterRoundTripTest, RealTreeUsrIncludeLinux) {
  const std::string src = "/usr/include/linux";
  struct stat st;
  if (stat(src.c_str(), &st) != 0) GTEST_SKIP() << src << " not installed";
  const std::string dst = Scratch("rt_usr_include_linux");
  std::vector<v1::Warning> warnings;
  absl::Status s = Restore(src, dst, 1 << 20, &warnings);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(warnings, IsEmpty());
  std::vector<std::string> diffs = testing::CompareTrees(src, dst);
  EXPECT_THAT(diffs, IsEmpty()) << Lines(diffs);
}

}  // namespace
}  // namespace arca
