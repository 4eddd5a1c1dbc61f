// MountView over real backups of a temporary tree in a local repository:
// what a FUSE mount would show, checked against lstat/lgetxattr of the
// source, and the reads, the repository layout, the tree cache and the
// errors.
#include "libs/mount/mount_view.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/chunker/chunker.h"
#include "libs/fs/file_system.h"
#include "libs/fs/posix_acl.h"
#include "libs/pipeline/backup.h"

namespace arca::mount {
namespace {

class MountViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = std::string(std::getenv("TEST_TMPDIR")) + "/" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(base_);
    src_ = base_ + "/src";
    std::filesystem::create_directories(src_ + "/dir/sub");
    Write("small.txt", "hello\n");
    std::mt19937_64 rng(7);
    big_.resize(5 << 20);
    for (char& c : big_) c = static_cast<char>(rng());
    Write("dir/big.bin", big_);
    Write("dir/sub/other.txt", "other\n");
    ASSERT_EQ(symlink("../small.txt", (src_ + "/dir/link").c_str()), 0);
    ASSERT_EQ(link((src_ + "/dir/big.bin").c_str(), (src_ + "/hard").c_str()), 0);
    ASSERT_EQ(mkfifo((src_ + "/fifo").c_str(), 0640), 0);
    ASSERT_EQ(chmod((src_ + "/small.txt").c_str(), 04750), 0);
    // Sparse: 8 MiB, data at 1 MiB and at the end.
    int fd = open((src_ + "/sparse").c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(pwrite(fd, "abc", 3, 1 << 20), 3);
    ASSERT_EQ(pwrite(fd, "xyz", 3, (8 << 20) - 3), 3);
    close(fd);
    xattrs_ = setxattr((src_ + "/small.txt").c_str(), "user.note", "v\0x", 3, 0) == 0;
    if (!xattrs_) xattr_problem_ = absl::StrCat("user xattr: ", strerror(errno));
    google::protobuf::RepeatedPtrField<v1::AclEntry> acl;
    // ACL_USER names our own uid: the only one mapped in a sandbox's user
    // namespace.
    const uint32_t me = getuid();
    for (auto [tag, id, perm] : {std::tuple{1u, 0u, 7u}, {2u, me, 5u}, {4u, 0u, 5u},
                                 {16u, 0u, 5u}, {32u, 0u, 0u}}) {
      v1::AclEntry* a = acl.Add();
      a->set_tag(tag);
      a->set_id(id);
      a->set_perm(perm);
    }
    acl_value_ = fs::EncodePosixAclXattr(acl);
    acls_ = setxattr((src_ + "/dir").c_str(), "system.posix_acl_default", acl_value_.data(),
                     acl_value_.size(), 0) == 0;
    if (!acls_) xattr_problem_ = absl::StrCat("default ACL: ", strerror(errno));
    v1::RepositoryConfig config;
    *config.mutable_payload_chunker() = ChunkerParams::PayloadDefault().ToProto();
    *config.mutable_metadata_chunker() = ChunkerParams::MetadataDefault().ToProto();
    config.set_default_codec(v1::CODEC_ZSTD);
    config.set_default_level(3);
    auto repo = Repository::Init(base_ + "/repo", config);
    ASSERT_TRUE(repo.ok()) << repo.status();
    repo_ = std::move(*repo);
  }

  void Write(const std::string& rel, const std::string& data) {
    std::ofstream(src_ + "/" + rel, std::ios::binary | std::ios::trunc) << data;
  }

  std::string Backup(const std::string& source) {
    BackupOptions options;
    options.source = source;
    options.host = "testhost";
    BackupResult r = RunBackup(*repo_, fs::DefaultFileSystem(), options, nullptr);
    EXPECT_EQ(r.exit_code, ExitCode::kSuccess) << r.status;
    return r.manifest.id();
  }

  // Walks `path` ('/'-separated) from `dir` by Lookup.
  static absl::StatusOr<Attr> Walk(MountView& v, uint64_t dir, const std::string& path) {
    absl::StatusOr<Attr> a = v.GetAttr(dir);
    size_t start = 0;
    while (a.ok() && start < path.size()) {
      size_t slash = path.find('/', start);
      if (slash == std::string::npos) slash = path.size();
      a = v.Lookup(a->ino, path.substr(start, slash - start));
      start = slash + 1;
    }
    return a;
  }

  static std::vector<std::string> List(MountView& v, uint64_t dir) {
    std::vector<std::string> names;
    absl::Status st = v.ReadDir(dir, 0, [&](std::string_view n, uint64_t, uint32_t, uint64_t) {
      names.emplace_back(n);
      return true;
    });
    EXPECT_TRUE(st.ok()) << st;
    return names;
  }

  static std::string ReadAll(MountView& v, uint64_t ino, size_t piece) {
    absl::StatusOr<uint64_t> h = v.Open(ino);
    EXPECT_TRUE(h.ok()) << h.status();
    if (!h.ok()) return "";
    std::string out;
    std::string buf(piece, '\0');
    while (true) {
      absl::StatusOr<size_t> n = v.Read(
          *h, out.size(), std::span<uint8_t>(reinterpret_cast<uint8_t*>(buf.data()), buf.size()));
      EXPECT_TRUE(n.ok()) << n.status();
      if (!n.ok() || *n == 0) break;
      out.append(buf, 0, *n);
    }
    v.Release(*h);
    return out;
  }

  void ExpectSameAsSource(const Attr& a, const std::string& rel) {
    struct stat st;
    ASSERT_EQ(lstat((src_ + "/" + rel).c_str(), &st), 0) << rel;
    EXPECT_EQ(a.mode, st.st_mode) << rel;
    EXPECT_EQ(a.uid, st.st_uid) << rel;
    EXPECT_EQ(a.gid, st.st_gid) << rel;
    EXPECT_EQ(a.mtime_ns, st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec) << rel;
    if (!S_ISDIR(st.st_mode)) EXPECT_EQ(a.size, static_cast<uint64_t>(st.st_size)) << rel;
    EXPECT_EQ(a.nlink, st.st_nlink) << rel;
  }

  std::string base_, src_, big_, acl_value_;
  bool xattrs_ = false, acls_ = false;
  std::string xattr_problem_;
  std::unique_ptr<Repository> repo_;
};

TEST_F(MountViewTest, SnapshotViewHasTheSourceMetadata) {
  Backup(src_);
  absl::StatusOr<std::unique_ptr<MountView>> v = MountView::OpenSnapshot(*repo_, "latest", {});
  ASSERT_TRUE(v.ok()) << v.status();
  MountView& view = **v;
  EXPECT_EQ(List(view, kRootInode),
            (std::vector<std::string>{".", "..", "dir", "fifo", "hard", "small.txt", "sparse"}));
  for (const char* rel :
       {"", "dir", "dir/sub", "dir/big.bin", "dir/link", "dir/sub/other.txt", "fifo", "hard",
        "small.txt", "sparse"}) {
    absl::StatusOr<Attr> a = Walk(view, kRootInode, rel);
    ASSERT_TRUE(a.ok()) << rel << ": " << a.status();
    ExpectSameAsSource(*a, rel);
  }
  absl::StatusOr<Attr> root = view.GetAttr(kRootInode);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->ino, kRootInode);
  EXPECT_EQ(root->nlink, 3u) << "., .. and dir";
  // Hardlinks: one inode, two names.
  absl::StatusOr<Attr> big = Walk(view, kRootInode, "dir/big.bin");
  absl::StatusOr<Attr> hard = Walk(view, kRootInode, "hard");
  ASSERT_TRUE(big.ok() && hard.ok());
  EXPECT_EQ(big->ino, hard->ino);
  EXPECT_EQ(hard->nlink, 2u);
  EXPECT_EQ(big->blocks, (big_.size() + 511) / 512);
  // Symlink target, sparse allocation, setuid bit.
  absl::StatusOr<Attr> link = Walk(view, kRootInode, "dir/link");
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(view.ReadLink(link->ino).value_or("?"), "../small.txt");
  absl::StatusOr<Attr> sparse = Walk(view, kRootInode, "sparse");
  ASSERT_TRUE(sparse.ok());
  EXPECT_LT(sparse->blocks * 512, 1u << 20);
  EXPECT_EQ(Walk(view, kRootInode, "small.txt")->mode, S_IFREG | 04750u);
  // ".." of a subdirectory is its parent.
  absl::StatusOr<Attr> sub = Walk(view, kRootInode, "dir/sub");
  absl::StatusOr<Attr> dir = Walk(view, kRootInode, "dir");
  uint64_t dotdot = 0;
  ASSERT_TRUE(view.ReadDir(sub->ino, 1, [&](std::string_view n, uint64_t ino, uint32_t, uint64_t) {
                    if (n == "..") dotdot = ino;
                    return true;
                  }).ok());
  EXPECT_EQ(dotdot, dir->ino);
}

TEST_F(MountViewTest, ReadsContentSparseHolesAndPastTheEnd) {
  Backup(src_);
  absl::StatusOr<std::unique_ptr<MountView>> v = MountView::OpenSnapshot(*repo_, "latest", {});
  ASSERT_TRUE(v.ok()) << v.status();
  MountView& view = **v;
  uint64_t big = Walk(view, kRootInode, "dir/big.bin")->ino;
  EXPECT_EQ(ReadAll(view, big, 128 << 10), big_);
  EXPECT_EQ(ReadAll(view, big, 1000), big_) << "pieces across chunk boundaries";
  EXPECT_EQ(ReadAll(view, Walk(view, kRootInode, "hard")->ino, 1 << 20), big_);
  std::string sparse = ReadAll(view, Walk(view, kRootInode, "sparse")->ino, 300 << 10);
  std::string expected(8 << 20, '\0');
  expected.replace(1 << 20, 3, "abc");
  expected.replace((8 << 20) - 3, 3, "xyz");
  EXPECT_TRUE(sparse == expected);
  // Random reads, backwards, and at / past the end.
  absl::StatusOr<uint64_t> h = view.Open(big);
  ASSERT_TRUE(h.ok());
  std::string buf(4096, '\0');
  std::span<uint8_t> s(reinterpret_cast<uint8_t*>(buf.data()), buf.size());
  for (uint64_t off : {uint64_t{4} << 20, uint64_t{12345}, uint64_t{3} << 20, uint64_t{0}}) {
    ASSERT_EQ(view.Read(*h, off, s).value_or(0), 4096u) << off;
    EXPECT_EQ(buf, big_.substr(off, 4096)) << off;
  }
  EXPECT_EQ(view.Read(*h, big_.size() - 100, s).value_or(0), 100u);
  EXPECT_EQ(buf.substr(0, 100), big_.substr(big_.size() - 100));
  EXPECT_EQ(view.Read(*h, big_.size(), s).value_or(1), 0u);
  EXPECT_EQ(view.Read(*h, big_.size() + 5, s).value_or(1), 0u);
  view.Release(*h);
  EXPECT_EQ(view.Read(*h, 0, s).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadAll(view, Walk(view, kRootInode, "small.txt")->ino, 10), "hello\n");
}

TEST_F(MountViewTest, XattrsAndAclsInTheKernelFormat) {
  if (!xattrs_ || !acls_) GTEST_SKIP() << "TEST_TMPDIR's file system refuses " << xattr_problem_;
  Backup(src_);
  absl::StatusOr<std::unique_ptr<MountView>> v = MountView::OpenSnapshot(*repo_, "latest", {});
  ASSERT_TRUE(v.ok()) << v.status();
  MountView& view = **v;
  uint64_t small = Walk(view, kRootInode, "small.txt")->ino;
  uint64_t dir = Walk(view, kRootInode, "dir")->ino;
  EXPECT_EQ(view.GetXattr(small, "user.note").value_or("?"), std::string("v\0x", 3));
  EXPECT_EQ(view.ListXattr(small).value_or(std::vector<std::string>{}),
            std::vector<std::string>{"user.note"});
  EXPECT_EQ(view.GetXattr(small, "user.other").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(view.GetXattr(small, "system.posix_acl_access").status().code(),
            absl::StatusCode::kNotFound);
  // The bytes the kernel gives for the source directory's ACL.
  std::string want(4096, '\0');
  ssize_t n = lgetxattr((src_ + "/dir").c_str(), "system.posix_acl_default", want.data(),
                        want.size());
  ASSERT_GT(n, 0);
  want.resize(n);
  EXPECT_EQ(view.GetXattr(dir, "system.posix_acl_default").value_or("?"), want);
  std::vector<std::string> names = view.ListXattr(dir).value_or(std::vector<std::string>{});
  EXPECT_NE(std::find(names.begin(), names.end(), "system.posix_acl_default"), names.end());
  EXPECT_TRUE(view.ListXattr(kRootInode).ok());
}

TEST_F(MountViewTest, RepositoryViewByGroupAndTimeWithBoundedTreeCache) {
  std::string first = Backup(src_);
  Write("small.txt", "changed\n");
  std::string second = Backup(src_);
  std::string other_src = base_ + "/other";
  std::filesystem::create_directories(other_src);
  std::ofstream(other_src + "/only.txt") << "x";
  std::string third = Backup(other_src);
  MountOptions options;
  options.max_cached_trees = 1;
  absl::StatusOr<std::unique_ptr<MountView>> v = MountView::OpenRepository(*repo_, options);
  ASSERT_TRUE(v.ok()) << v.status();
  MountView& view = **v;
  EXPECT_EQ(view.snapshots().size(), 3u);
  EXPECT_EQ(view.trees_built(), 0u) << "trees are built when first used";
  const std::string group = first.substr(0, first.find('/'));
  const std::string other_group = third.substr(0, third.find('/'));
  std::vector<std::string> groups = List(view, kRootInode);
  std::vector<std::string> want = {".", "..", group, other_group};
  std::sort(want.begin() + 2, want.end());
  EXPECT_EQ(groups, want);
  EXPECT_EQ(List(view, Walk(view, kRootInode, group)->ino),
            (std::vector<std::string>{".", "..", first.substr(group.size() + 1),
                                      second.substr(group.size() + 1)}));
  absl::StatusOr<Attr> g = Walk(view, kRootInode, group);
  EXPECT_EQ(g->mode, S_IFDIR | 0555u);
  EXPECT_EQ(g->nlink, 4u);
  EXPECT_EQ(view.trees_built(), 0u) << "listing groups builds no tree";
  // Nor does `ls -l GROUP`: the snapshot directories come from their root
  // entries, and are the same once the tree is built.
  absl::StatusOr<Attr> r1 = Walk(view, kRootInode, first);
  ASSERT_TRUE(r1.ok()) << r1.status();
  ExpectSameAsSource(*r1, "");
  EXPECT_EQ(view.trees_built(), 0u);

  absl::StatusOr<Attr> a1 = Walk(view, kRootInode, first + "/small.txt");
  ASSERT_TRUE(a1.ok()) << a1.status();
  EXPECT_EQ(ReadAll(view, a1->ino, 100), "hello\n");
  absl::StatusOr<Attr> a2 = Walk(view, kRootInode, second + "/small.txt");
  ASSERT_TRUE(a2.ok()) << a2.status();
  EXPECT_EQ(ReadAll(view, a2->ino, 100), "changed\n");
  EXPECT_NE(a1->ino, a2->ino);
  EXPECT_EQ(view.trees_cached(), 1u);
  EXPECT_EQ(view.trees_built(), 2u);
  // The first snapshot's tree was dropped: the same inode is rebuilt.
  absl::StatusOr<Attr> again = view.GetAttr(a1->ino);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->mtime_ns, a1->mtime_ns);
  EXPECT_EQ(again->size, 6u);
  EXPECT_EQ(view.trees_built(), 3u);
  EXPECT_TRUE(Walk(view, kRootInode, third + "/only.txt").ok());
  // The snapshot directory is the backed-up root, ".." its group.
  absl::StatusOr<Attr> root1 = Walk(view, kRootInode, first);
  ExpectSameAsSource(*root1, "");
  EXPECT_EQ(root1->nlink, r1->nlink);
  EXPECT_EQ(root1->ino, r1->ino);
  uint64_t dotdot = 0;
  ASSERT_TRUE(view.ReadDir(root1->ino, 1, [&](std::string_view n, uint64_t ino, uint32_t,
                                               uint64_t) {
                    if (n == "..") dotdot = ino;
                    return false;
                  }).ok());
  EXPECT_EQ(dotdot, g->ino);
}

TEST_F(MountViewTest, ReadDirResumesAtTheOffsetItGave) {
  for (int i = 0; i < 50; ++i) Write(absl::StrCat("dir/sub/f", 100 + i), "");
  Backup(src_);
  absl::StatusOr<std::unique_ptr<MountView>> v = MountView::OpenSnapshot(*repo_, "latest", {});
  ASSERT_TRUE(v.ok()) << v.status();
  uint64_t sub = Walk(**v, kRootInode, "dir/sub")->ino;
  std::vector<std::string> all = List(**v, sub);
  ASSERT_EQ(all.size(), 53u);
  // Seven entries per call, as a small getdents buffer would take.
  std::vector<std::string> got;
  uint64_t offset = 0;
  while (true) {
    int room = 7;
    uint64_t next = offset;
    ASSERT_TRUE((*v)->ReadDir(sub, offset, [&](std::string_view n, uint64_t, uint32_t,
                                                uint64_t nx) {
                      if (room-- == 0) return false;
                      got.emplace_back(n);
                      next = nx;
                      return true;
                    }).ok());
    if (next == offset) break;
    offset = next;
  }
  EXPECT_EQ(got, all);
}

TEST_F(MountViewTest, Errors) {
  Backup(src_);
  absl::StatusOr<std::unique_ptr<MountView>> missing =
      MountView::OpenSnapshot(*repo_, "nosuch/20200101T000000.000000000Z", {});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  absl::StatusOr<std::unique_ptr<MountView>> v = MountView::OpenSnapshot(*repo_, "latest", {});
  ASSERT_TRUE(v.ok()) << v.status();
  MountView& view = **v;
  EXPECT_EQ(view.Lookup(kRootInode, "nope").status().code(), absl::StatusCode::kNotFound);
  uint64_t dir = Walk(view, kRootInode, "dir")->ino;
  uint64_t small = Walk(view, kRootInode, "small.txt")->ino;
  EXPECT_EQ(view.Open(dir).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(view.ReadLink(small).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(view.Lookup(small, "x").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(view.ReadDir(small, 0, [](auto...) { return true; }).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(view.GetAttr(2).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(view.GetAttr((uint64_t{7} << 32) | 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(view.GetAttr((uint64_t{1} << 32) | 999999).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(MountViewTest, MissingChunksAreDataLossNamingTheFile) {
  Backup(src_);
  absl::StatusOr<std::unique_ptr<MountView>> v = MountView::OpenSnapshot(*repo_, "latest", {});
  ASSERT_TRUE(v.ok()) << v.status();
  uint64_t big = Walk(**v, kRootInode, "dir/big.bin")->ino;
  // The tree is built; now every chunk goes.
  for (const auto& f : std::filesystem::recursive_directory_iterator(base_ + "/repo/chunks")) {
    if (f.is_regular_file()) std::filesystem::remove(f.path());
  }
  absl::StatusOr<uint64_t> h = (*v)->Open(big);
  ASSERT_TRUE(h.ok()) << h.status();
  std::string buf(4096, '\0');
  absl::StatusOr<size_t> n =
      (*v)->Read(*h, 100, std::span<uint8_t>(reinterpret_cast<uint8_t*>(buf.data()), buf.size()));
  EXPECT_EQ(n.status().code(), absl::StatusCode::kDataLoss) << n.status();
  EXPECT_NE(n.status().message().find("file 'dir/big.bin'"), std::string::npos) << n.status();
  EXPECT_NE(n.status().message().find("byte 100"), std::string::npos) << n.status();
  EXPECT_NE(n.status().message().find("arca verify"), std::string::npos) << n.status();
}

}  // namespace
}  // namespace arca::mount
