#include "libs/store/repository_location.h"

#include <string>

#include "gtest/gtest.h"

namespace arca {
namespace {

TEST(RepositoryLocation, LocalPathsPassSchemesAreRefused) {
  for (const char* ok :
       {"/srv/arca/repo", "repo", "./a://b", "dir with ://inside", "/x/s3://y", "1abc://x"}) {
    EXPECT_TRUE(CheckRepositoryLocation(ok).ok()) << ok;
  }
  for (const char* bad : {"s3://bucket/prefix", "S3://b", "gs://b", "https://host/x",
                          "sftp://host/dir", "rest+https://x"}) {
    absl::Status st = CheckRepositoryLocation(bad);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(st.message().find("unknown scheme"), std::string::npos) << st;
    EXPECT_NE(st.message().find("local directories"), std::string::npos) << st;
  }
  absl::Status file = CheckRepositoryLocation("file:///srv/repo");
  EXPECT_EQ(file.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(file.message().find("/srv/repo"), std::string::npos) << file;
  EXPECT_EQ(CheckRepositoryLocation("").code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace arca
