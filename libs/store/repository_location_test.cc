#include "libs/store/repository_location.h"

#include <string>

#include "gtest/gtest.h"

namespace arca {
namespace {

TEST(RepositoryLocation, LocalPathsPassUnknownSchemesAreRefused) {
  for (const char* ok :
       {"/srv/arca/repo", "repo", "./a://b", "dir with ://inside", "/x/s3://y", "1abc://x"}) {
    absl::StatusOr<RepositoryLocation> loc = ParseRepositoryLocation(ok);
    ASSERT_TRUE(loc.ok()) << ok;
    EXPECT_EQ(loc->kind, RepositoryLocation::Kind::kLocal);
    EXPECT_EQ(loc->path, ok);
    EXPECT_EQ(loc->Display(), ok);
  }
  for (const char* bad : {"gs://b", "https://host/x", "sftp://host/dir", "rest+https://x"}) {
    absl::Status st = CheckRepositoryLocation(bad);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(st.message().find("unknown scheme"), std::string::npos) << st;
    EXPECT_NE(st.message().find("local directories"), std::string::npos) << st;
    EXPECT_NE(st.message().find("s3://BUCKET/PREFIX"), std::string::npos) << st;
  }
  absl::Status file = CheckRepositoryLocation("file:///srv/repo");
  EXPECT_EQ(file.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(file.message().find("/srv/repo"), std::string::npos) << file;
  EXPECT_EQ(CheckRepositoryLocation("").code(), absl::StatusCode::kInvalidArgument);
}

TEST(RepositoryLocation, S3BucketAndPrefix) {
  struct Case {
    const char* in;
    const char* bucket;
    const char* prefix;
    const char* display;
  };
  for (const Case& c : {Case{"s3://bucket", "bucket", "", "s3://bucket"},
                        Case{"S3://bucket/", "bucket", "", "s3://bucket"},
                        Case{"s3://my-bucket.1/a/b/", "my-bucket.1", "a/b", "s3://my-bucket.1/a/b"},
                        Case{"s3://abc/x y", "abc", "x y", "s3://abc/x y"}}) {
    absl::StatusOr<RepositoryLocation> loc = ParseRepositoryLocation(c.in);
    ASSERT_TRUE(loc.ok()) << c.in << ": " << loc.status();
    EXPECT_EQ(loc->kind, RepositoryLocation::Kind::kS3);
    EXPECT_EQ(loc->bucket, c.bucket);
    EXPECT_EQ(loc->prefix, c.prefix);
    EXPECT_EQ(loc->Display(), c.display);
  }
  for (const char* bad : {"s3://", "s3://ab", "s3://Bucket/x", "s3://-abc", "s3://abc-",
                          "s3://abc/a//b", "s3://abc/./b", "s3://abc/a/../b", "s3://b_c/x"}) {
    absl::Status st = CheckRepositoryLocation(bad);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(st.message().find(bad), std::string::npos) << st;
  }
}

}  // namespace
}  // namespace arca
