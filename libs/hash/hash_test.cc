#include "gtest/gtest.h"
#include "libs/hash/crc32c.h"
#include "libs/hash/digest.h"

namespace arca {
namespace {

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(Crc32c(std::string_view("123456789")), 0xE3069283u);
  EXPECT_EQ(Crc32c(std::string_view("")), 0u);
  std::string zeros(32, '\0');
  EXPECT_EQ(Crc32c(zeros), 0x8A9136AAu);  // RFC 3720 B.4
}

TEST(Crc32c, ExtendEqualsWhole) {
  std::string s = "The quick brown fox jumps over the lazy dog, repeatedly.";
  uint32_t whole = Crc32c(s);
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    std::string_view a(s.data(), cut), b(s.data() + cut, s.size() - cut);
    uint32_t c = Crc32c(a);
    c = Crc32cExtend(
        c, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(b.data()), b.size()));
    EXPECT_EQ(c, whole) << cut;
  }
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(Sha256(std::string_view("abc")).Hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256(std::string_view("")).Hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256, IncrementalEqualsOneShot) {
  Sha256Hasher h;
  h.Update(std::string_view("a"));
  h.Update(std::string_view("bc"));
  EXPECT_EQ(h.Finish(), Sha256(std::string_view("abc")));
  h.Update(std::string_view("abc"));  // reusable after Finish
  EXPECT_EQ(h.Finish(), Sha256(std::string_view("abc")));
}

TEST(Digest, HexRoundTripAndErrors) {
  Digest d = Sha256(std::string_view("x"));
  auto back = Digest::FromHex(d.Hex());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, d);
  EXPECT_EQ(Digest::FromHex("abc").status().code(), absl::StatusCode::kInvalidArgument);
  std::string bad = d.Hex();
  bad[5] = 'z';
  auto st = Digest::FromHex(bad).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("non-hex"), std::string::npos);
  EXPECT_EQ(Digest::FromRaw("short").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace arca
