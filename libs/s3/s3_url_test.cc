#include "libs/s3/s3_url.h"

#include "gtest/gtest.h"

namespace arca::s3 {
namespace {

TEST(UriEncode, KeepsUnreservedAndOptionallySlash) {
  EXPECT_EQ(UriEncode("aZ09-._~", false), "aZ09-._~");
  EXPECT_EQ(UriEncode("a b+c=d/e", true), "a%20b%2Bc%3Dd/e");
  EXPECT_EQ(UriEncode("a b+c=d/e", false), "a%20b%2Bc%3Dd%2Fe");
  EXPECT_EQ(UriEncode("ü", false), "%C3%BC");
  EXPECT_EQ(UriEncode(std::string("\0\xff", 2), false), "%00%FF");
  EXPECT_EQ(UriEncode("%*?&#", false), "%25%2A%3F%26%23");
}

TEST(CanonicalQuery, SortedAndEncoded) {
  EXPECT_EQ(CanonicalQuery({{"prefix", "a b/"},
                            {"list-type", "2"},
                            {"max-keys", "3"},
                            {"continuation-token", "x+y="},
                            {"delimiter", "/"}}),
            "continuation-token=x%2By%3D&delimiter=%2F&list-type=2&max-keys=3&prefix=a%20b%2F");
  EXPECT_EQ(CanonicalQuery({{"delete", ""}}), "delete=");
  EXPECT_EQ(CanonicalQuery({}), "");
}

TEST(ValidBucketName, Rules) {
  EXPECT_TRUE(ValidBucketName("arca-test.1"));
  EXPECT_FALSE(ValidBucketName("ab"));
  EXPECT_FALSE(ValidBucketName(std::string(64, 'a')));
  EXPECT_FALSE(ValidBucketName("Upper"));
  EXPECT_FALSE(ValidBucketName("-abc"));
  EXPECT_FALSE(ValidBucketName("abc-"));
  EXPECT_FALSE(ValidBucketName("a..b"));
  EXPECT_FALSE(ValidBucketName("a_b"));
  EXPECT_FALSE(ValidBucketName("192.168.1.1"));
  EXPECT_FALSE(ValidBucketName(""));
}

}  // namespace
}  // namespace arca::s3
