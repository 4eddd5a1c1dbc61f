#include "libs/fs/path_roots.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace arca::fs {
namespace {

class PathRootsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::filesystem::path base =
        std::filesystem::path(tmp ? tmp : "/tmp") / ("path_roots_test." + std::to_string(getpid()));
    std::filesystem::remove_all(base);
    std::filesystem::create_directories(base / "data/sub");
    std::filesystem::create_directories(base / "data2");
    std::filesystem::create_directories(base / "outside");
    std::ofstream(base / "data/file") << "x";
    std::filesystem::create_directory_symlink(base / "outside", base / "data/link-out");
    std::filesystem::create_directory_symlink(base / "data/sub", base / "data/link-in");
    std::filesystem::create_symlink(base / "outside/missing", base / "data/dangling");
    base_ = std::filesystem::canonical(base).string();
    data_ = base_ + "/data";
  }
  void TearDown() override { std::filesystem::remove_all(base_); }

  std::string base_;
  std::string data_;
};

TEST(IsPathWithin, ComparesOnComponentBoundaries) {
  EXPECT_TRUE(IsPathWithin("/data", "/data"));
  EXPECT_TRUE(IsPathWithin("/data/a/b", "/data"));
  EXPECT_FALSE(IsPathWithin("/data2", "/data"));
  EXPECT_FALSE(IsPathWithin("/dat", "/data"));
  EXPECT_FALSE(IsPathWithin("/etc", "/data"));
  EXPECT_TRUE(IsPathWithin("/etc", "/"));
  EXPECT_TRUE(IsPathWithin("/", "/"));
}

TEST_F(PathRootsTest, CanonicalizeResolvesDotDotAndSymlinks) {
  EXPECT_EQ(*CanonicalizePath(data_ + "/../outside"), base_ + "/outside");
  EXPECT_EQ(*CanonicalizePath(data_ + "/link-out"), base_ + "/outside");
  EXPECT_EQ(*CanonicalizePath(data_ + "/link-in/"), data_ + "/sub");
  EXPECT_EQ(*CanonicalizePath(data_ + "/./sub//"), data_ + "/sub");
}

TEST_F(PathRootsTest, CanonicalizeJudgesMissingPathsByTheirExistingAncestor) {
  EXPECT_EQ(*CanonicalizePath(data_ + "/new/deeper"), data_ + "/new/deeper");
  EXPECT_EQ(*CanonicalizePath(data_ + "/link-out/new"), base_ + "/outside/new");
  // ".." below a missing component is normalised lexically, after the
  // existing part was resolved.
  EXPECT_EQ(*CanonicalizePath(data_ + "/new/../../outside/x"), base_ + "/outside/x");
}

TEST_F(PathRootsTest, CanonicalizeRefusesDanglingSymlinksAndRelativePaths) {
  absl::StatusOr<std::string> d = CanonicalizePath(data_ + "/dangling/x");
  EXPECT_EQ(d.status().code(), absl::StatusCode::kPermissionDenied) << d.status();
  EXPECT_NE(d.status().message().find(data_ + "/dangling is a symbolic link"), std::string::npos)
      << d.status();
  EXPECT_EQ(CanonicalizePath("data").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CanonicalizePath("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CanonicalizePath(data_ + "/file/x").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(PathRootsTest, CanonicalizeRootsChecksAndDeduplicates) {
  absl::StatusOr<std::vector<std::string>> roots =
      CanonicalizeRoots({data_, data_ + "/../data", data_ + "/link-out"}, "--source-root");
  ASSERT_TRUE(roots.ok()) << roots.status();
  EXPECT_EQ(*roots, (std::vector<std::string>{data_, base_ + "/outside"}));

  absl::StatusOr<std::vector<std::string>> missing =
      CanonicalizeRoots({data_ + "/nope"}, "--source-root");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("invalid --source-root '" + data_ + "/nope'"),
            std::string::npos)
      << missing.status();
  absl::StatusOr<std::vector<std::string>> file =
      CanonicalizeRoots({data_ + "/file"}, "--restore-root");
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(file.status().message().find("not a directory"), std::string::npos) << file.status();
  EXPECT_EQ(CanonicalizeRoots({"rel"}, "--source-root").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PathRootsTest, ResolveWithinRootsAllowsOnlyPathsUnderARoot) {
  const std::vector<std::string> roots = {data_};
  auto resolve = [&](const std::string& p) {
    return ResolveWithinRoots(p, roots, "source", "collector", "--source-root");
  };
  EXPECT_EQ(*resolve(data_), data_);
  EXPECT_EQ(*resolve(data_ + "/link-in"), data_ + "/sub");
  EXPECT_EQ(*resolve(data_ + "/not-yet"), data_ + "/not-yet");
  for (const std::string& bad :
       {data_ + "/../outside", data_ + "/link-out", data_ + "/link-out/x", base_ + "/data2",
        std::string("/etc"), data_ + "/new/../../outside"}) {
    absl::StatusOr<std::string> r = resolve(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << bad;
    EXPECT_NE(r.status().message().find("source '" + bad + "'"), std::string::npos) << r.status();
    EXPECT_NE(r.status().message().find("outside the collector's --source-root directories (" +
                                        data_ + ")"),
              std::string::npos)
        << r.status();
    EXPECT_NE(r.status().message().find("start the collector with --source-root"),
              std::string::npos)
        << r.status();
  }
}

TEST_F(PathRootsTest, ResolveWithoutRootsDeniesEverything) {
  absl::StatusOr<std::string> r =
      ResolveWithinRoots(data_, {}, "restore target", "collector", "--restore-root");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(r.status().message().find("started without --restore-root"), std::string::npos)
      << r.status();
  EXPECT_NE(r.status().message().find("start the collector with --restore-root DIR"),
            std::string::npos)
      << r.status();
}

}  // namespace
}  // namespace arca::fs
