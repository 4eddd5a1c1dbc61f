#include "libs/store/open_repository.h"

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace arca {
namespace {

using ::testing::HasSubstr;

TEST(ApplyS3Flag, AcceptsGoodValuesAndNamesBadOnes) {
  s3::S3Options o;
  ASSERT_TRUE(ApplyS3Flag("s3-endpoint", "https://s3.example:9000", &o).ok());
  EXPECT_EQ(o.endpoint, "https://s3.example:9000");
  ASSERT_TRUE(ApplyS3Flag("s3-addressing", "virtual", &o).ok());
  EXPECT_EQ(o.addressing, s3::Addressing::kVirtual);
  ASSERT_TRUE(ApplyS3Flag("s3-retries", "0", &o).ok());
  EXPECT_EQ(o.max_retries, 0);
  ASSERT_TRUE(ApplyS3Flag("s3-timeout", "2.5", &o).ok());
  EXPECT_EQ(o.timeout_ms, 2500);
  ASSERT_TRUE(ApplyS3Flag("s3-ca", "/etc/ca.pem", &o).ok());
  EXPECT_EQ(o.ca_file, "/etc/ca.pem");
  struct Rate {
    const char* in;
    uint64_t out;
  };
  for (const Rate& r : {Rate{"0", 0}, Rate{"1000", 1000}, Rate{"500K", 500 << 10},
                        Rate{"20m", 20ull << 20}, Rate{"1G", 1ull << 30}}) {
    ASSERT_TRUE(ApplyS3Flag("limit-upload", r.in, &o).ok()) << r.in;
    EXPECT_EQ(o.limit_upload_bytes_per_second, r.out) << r.in;
  }
  struct Bad {
    const char* flag;
    const char* value;
  };
  for (const Bad& b :
       {Bad{"s3-endpoint", "s3.example"}, Bad{"s3-addressing", "host"}, Bad{"s3-retries", "-1"},
        Bad{"s3-retries", "x"}, Bad{"s3-timeout", "0"}, Bad{"s3-ca", ""},
        Bad{"limit-upload", "fast"}, Bad{"limit-upload", "10T"}, Bad{"limit-upload", "-5M"}}) {
    absl::Status st = ApplyS3Flag(b.flag, b.value, &o);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << b.flag << " " << b.value;
    EXPECT_THAT(st.message(), HasSubstr(absl::StrCat("--", b.flag)));
  }
}

TEST(CheckRepositoryOpenOptions, S3NeedsEndpointAndCredentials) {
  ::unsetenv("AWS_ENDPOINT_URL");
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  RepositoryOpenOptions options;
  EXPECT_TRUE(CheckRepositoryOpenOptions("/srv/repo", options).ok());
  absl::Status st = CheckRepositoryOpenOptions("s3://bucket/p", options);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("AWS_ENDPOINT_URL"));
  options.s3.endpoint = "http://127.0.0.1:9";
  st = CheckRepositoryOpenOptions("s3://bucket/p", options);
  EXPECT_THAT(st.message(), HasSubstr("AWS_ACCESS_KEY_ID"));
  ::setenv("AWS_ACCESS_KEY_ID", "k", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "s", 1);
  ::setenv("AWS_REGION", "eu-west-3", 1);
  EXPECT_TRUE(CheckRepositoryOpenOptions("s3://bucket/p", options).ok());
  s3::S3Options o;
  S3OptionsFromEnvironment(&o);
  EXPECT_EQ(o.access_key_id, "k");
  EXPECT_EQ(o.region, "eu-west-3");
  EXPECT_EQ(CheckRepositoryOpenOptions("gs://bucket", options).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace arca
