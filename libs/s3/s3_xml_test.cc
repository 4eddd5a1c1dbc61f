#include "libs/s3/s3_xml.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace arca::s3 {
namespace {

using ::testing::HasSubstr;

constexpr char kListing[] = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bkt</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>
  <Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>
  <NextContinuationToken>tok+/=</NextContinuationToken>
  <Contents><Key>p/a &amp; b&lt;c&gt;</Key><LastModified>2026-12-05T21:49:12.250Z</LastModified>
    <ETag>&quot;0123abcd&quot;</ETag><Size>18446744073709551615</Size>
    <StorageClass>STANDARD</StorageClass></Contents>
  <Contents><Key>p/ünï cødé</Key><LastModified>1970-01-01T00:00:01Z</LastModified>
    <ETag>"e"</ETag><Size>0</Size></Contents>
  <CommonPrefixes><Prefix>p/dir/</Prefix></CommonPrefixes>
  <CommonPrefixes><Prefix>p/other/</Prefix></CommonPrefixes>
</ListBucketResult>)";

TEST(ListObjectsV2, ParsesObjectsPrefixesAndToken) {
  auto page = ParseListObjectsV2(kListing);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "p/a & b<c>");
  EXPECT_EQ(page->objects[0].size, 18446744073709551615u);
  EXPECT_EQ(page->objects[0].etag, "0123abcd");
  EXPECT_EQ(page->objects[0].last_modified_unix_ns, 1796507352250000000);
  EXPECT_EQ(page->objects[1].key, "p/ünï cødé");
  EXPECT_EQ(page->objects[1].size, 0u);
  EXPECT_EQ(page->objects[1].last_modified_unix_ns, 1000000000);
  EXPECT_THAT(page->common_prefixes, ::testing::ElementsAre("p/dir/", "p/other/"));
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_continuation_token, "tok+/=");
}

TEST(ListObjectsV2, EmptyListing) {
  auto page = ParseListObjectsV2(
      "<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount>"
      "<IsTruncated>false</IsTruncated></ListBucketResult>");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_TRUE(page->objects.empty());
  EXPECT_FALSE(page->truncated);
}

TEST(ListObjectsV2, KeyWhitespaceIsKept) {
  auto page = ParseListObjectsV2(
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key> a&#10;b </Key>"
      "<Size>1</Size></Contents></ListBucketResult>");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->objects[0].key, " a\nb ");
}

void ExpectInvalid(std::string_view xml, std::string_view fragment) {
  auto page = ParseListObjectsV2(xml);
  ASSERT_FALSE(page.ok()) << xml;
  EXPECT_EQ(page.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(page.status().message(), HasSubstr(std::string(fragment)));
}

TEST(ListObjectsV2, MalformedAndHostileInput) {
  std::string listing = kListing;
  ExpectInvalid(listing.substr(0, listing.size() / 2), "malformed XML");
  ExpectInvalid("", "malformed XML");
  ExpectInvalid("not xml at all", "malformed XML");
  ExpectInvalid("<Error><Code>x</Code></Error>", "root element <Error>");
  ExpectInvalid("<ListBucketResult></ListBucketResult>", "<IsTruncated> missing");
  ExpectInvalid("<ListBucketResult><IsTruncated>yes</IsTruncated></ListBucketResult>",
                "not true or false");
  ExpectInvalid("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
                "no <NextContinuationToken>");
  ExpectInvalid(
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Size>1</Size></Contents>"
      "</ListBucketResult>",
      "<Contents/Key> missing");
  ExpectInvalid(
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key></Contents>"
      "</ListBucketResult>",
      "<Contents/Size> missing");
  for (const char* size : {"18446744073709551616", "99999999999999999999999999", "-1", "+1", "1e9",
                           "", " 1", "0x10"}) {
    ExpectInvalid(absl::StrCat("<ListBucketResult><IsTruncated>false</IsTruncated><Contents>"
                               "<Key>k</Key><Size>",
                               size, "</Size></Contents></ListBucketResult>"),
                  "not a 64-bit byte count");
  }
  ExpectInvalid(
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key><Size>1</Size>"
      "<LastModified>99999999999-01-01T00:00:00Z</LastModified></Contents></ListBucketResult>",
      "bad ISO-8601");
  ExpectInvalid(
      "<ListBucketResult><CommonPrefixes></CommonPrefixes>"
      "<IsTruncated>false</IsTruncated></ListBucketResult>",
      "<CommonPrefixes/Prefix> missing");
}

TEST(ListObjectsV2, EntitiesAreRefused) {
  // Billion laughs: refused at the DOCTYPE, before any expansion.
  std::string laughs =
      "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
      "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
      "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>"
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>&lol3;</Key>"
      "<Size>1</Size></Contents></ListBucketResult>";
  ExpectInvalid(laughs, "DOCTYPE");
  // External entity (file disclosure).
  ExpectInvalid(
      "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>&e;</Key>"
      "<Size>1</Size></Contents></ListBucketResult>",
      "DOCTYPE");
  // An undeclared entity is an XML error, not a silent empty string.
  ExpectInvalid(
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>&e;</Key>"
      "<Size>1</Size></Contents></ListBucketResult>",
      "malformed XML");
}

TEST(ListObjectsV2, DeepNestingIsBounded) {
  std::string xml = "<ListBucketResult>";
  for (int i = 0; i < 10000; ++i) xml += "<a>";
  ExpectInvalid(xml, "nested too deep");
}

TEST(ErrorDocument, CodeAndMessage) {
  auto doc = ParseErrorDocument(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code>"
      "<Message>The key &lt;k&gt; does not exist</Message><BucketName>b</BucketName>"
      "<RequestId>tx1</RequestId></Error>");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->code, "NoSuchKey");
  EXPECT_EQ(doc->message, "The key <k> does not exist");
  auto no_message = ParseErrorDocument("<Error><Code>SlowDown</Code></Error>");
  ASSERT_TRUE(no_message.ok());
  EXPECT_EQ(no_message->code, "SlowDown");
  EXPECT_EQ(no_message->message, "");
  EXPECT_EQ(ParseErrorDocument("<html><body>502 Bad Gateway</body></html>").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseErrorDocument("<Error><Code>x</Code>").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DeleteResult, ErrorsAreReturnedDeletedAreDropped) {
  auto errors = ParseDeleteResult(
      "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Deleted><Key>a</Key></Deleted>"
      "<Error><Key>b &amp; c</Key><Code>AccessDenied</Code><Message>Access Denied</Message>"
      "</Error><Error><Key>d</Key><Code>InternalError</Code></Error></DeleteResult>");
  ASSERT_TRUE(errors.ok()) << errors.status();
  ASSERT_EQ(errors->size(), 2u);
  EXPECT_EQ((*errors)[0].key, "b & c");
  EXPECT_EQ((*errors)[0].code, "AccessDenied");
  EXPECT_EQ((*errors)[0].message, "Access Denied");
  EXPECT_EQ((*errors)[1].message, "");
  auto quiet = ParseDeleteResult("<DeleteResult/>");
  ASSERT_TRUE(quiet.ok());
  EXPECT_TRUE(quiet->empty());
  EXPECT_THAT(ParseDeleteResult("<DeleteResult><Error><Code>X</Code></Error></DeleteResult>")
                  .status()
                  .message(),
              HasSubstr("<Error/Key> missing"));
  EXPECT_FALSE(ParseDeleteResult("").ok());
}

TEST(DeleteObjectsBody, EscapesKeysAndRoundTrips) {
  std::vector<std::string> keys = {"plain", "a&b<c>\"d'e", "tab\tnl\ncr\r", "ünï/cødé +=?"};
  auto body = BuildDeleteObjectsBody(keys);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_THAT(*body, HasSubstr("<Quiet>true</Quiet>"));
  EXPECT_THAT(*body, HasSubstr("<Key>a&amp;b&lt;c&gt;&quot;d&apos;e</Key>"));
  EXPECT_THAT(*body, HasSubstr("<Key>tab&#9;nl&#10;cr&#13;</Key>"));
  // Round trip through the same parser: a DeleteResult listing the keys.
  std::string result = "<DeleteResult>";
  for (const auto& k : keys) {
    absl::StrAppend(&result, "<Error><Key>", XmlEscape(k), "</Key><Code>C</Code></Error>");
  }
  result += "</DeleteResult>";
  auto parsed = ParseDeleteResult(result);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  for (size_t i = 0; i < keys.size(); ++i) EXPECT_EQ((*parsed)[i].key, keys[i]);
}

TEST(DeleteObjectsBody, RefusesWhatXmlCannotCarry) {
  EXPECT_EQ(BuildDeleteObjectsBody({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildDeleteObjectsBody(std::vector<std::string>(1001, "k")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildDeleteObjectsBody({std::string("a\x01")}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildDeleteObjectsBody({"bad\xff utf8"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildDeleteObjectsBody({""}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(BuildDeleteObjectsBody(std::vector<std::string>(1000, "k")).ok());
}

TEST(Iso8601, Forms) {
  EXPECT_EQ(*ParseIso8601("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*ParseIso8601("1970-01-01T00:00:00.000000001Z"), 1);
  EXPECT_EQ(*ParseIso8601("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_EQ(*ParseIso8601("2000-02-29T12:00:00Z"), 951825600000000000);
  for (const char* bad :
       {"", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-01-01 00:00:00Z",
        "2026-01-01T00:00:00", "2026-01-01T00:00:00.Z", "2026-01-01T24:00:00Z",
        "2026-01-01T00:00:00Zjunk", "2026-01-01T00:00:00.1234567890123Z"}) {
    EXPECT_FALSE(ParseIso8601(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace arca::s3
