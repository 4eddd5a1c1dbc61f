#include "libs/fs/posix_acl.h"

#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace arca::fs {
namespace {

using ::testing::HasSubstr;

// `getfattr -e hex` of a file after `setfacl -m u:12345:rwx,g:54321:r-x`.
const char kSetfaclHex[] =
    "0200000001000600ffffffff020007003930000004000400ffffffff0800050031d40000"
    "10000700ffffffff20000400ffffffff";

std::string FromHex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

TEST(PosixAclTest, ParsesWhatSetfaclWrites) {
  google::protobuf::RepeatedPtrField<v1::AclEntry> acl;
  ASSERT_TRUE(ParsePosixAclXattr(FromHex(kSetfaclHex), &acl).ok());
  ASSERT_EQ(acl.size(), 6);
  struct Want {
    uint32_t tag, id, perm;
  };
  const Want want[] = {{1, 0, 6}, {2, 12345, 7}, {4, 0, 4}, {8, 54321, 5}, {16, 0, 7}, {32, 0, 4}};
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(acl[i].tag(), want[i].tag) << i;
    EXPECT_EQ(acl[i].id(), want[i].id) << i;
    EXPECT_EQ(acl[i].perm(), want[i].perm) << i;
  }
  // Encoding gives back the kernel's bytes (ACL_UNDEFINED_ID included).
  EXPECT_EQ(EncodePosixAclXattr(acl), FromHex(kSetfaclHex));
}

TEST(PosixAclTest, HeaderOnlyIsEmpty) {
  google::protobuf::RepeatedPtrField<v1::AclEntry> acl;
  acl.Add();
  ASSERT_TRUE(ParsePosixAclXattr(FromHex("02000000"), &acl).ok());
  EXPECT_TRUE(acl.empty());
}

TEST(PosixAclTest, RejectsMalformed) {
  struct Case {
    std::string hex;
    std::string why;
  };
  for (const Case& c : std::vector<Case>{
           {"", "length 0"},
           {"020000", "length 3"},
           {"0200000001000600ffffff", "length 11"},
           {"0100000001000600ffffffff", "version 1"},
           {"0200000003000600ffffffff", "tag 3"},
           {"0200000001000800ffffffff", "perm 8"},
       }) {
    google::protobuf::RepeatedPtrField<v1::AclEntry> acl;
    absl::Status s = ParsePosixAclXattr(FromHex(c.hex), &acl);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.hex;
    EXPECT_THAT(s.message(), HasSubstr("malformed POSIX ACL"));
    EXPECT_THAT(s.message(), HasSubstr(c.why));
    EXPECT_TRUE(acl.empty());
  }
}

// Random bytes never crash the parser (run under ASan/UBSan), and whatever
// parses re-encodes to the same length.
TEST(PosixAclTest, RandomBytes) {
  std::mt19937 rng(42);
  for (int i = 0; i < 20000; ++i) {
    std::string bytes(rng() % 64, '\0');
    for (char& b : bytes) b = static_cast<char>(rng());
    if (i % 2 == 0 && bytes.size() >= 4) {
      bytes[0] = 2;
      bytes[1] = bytes[2] = bytes[3] = 0;
    }
    google::protobuf::RepeatedPtrField<v1::AclEntry> acl;
    if (ParsePosixAclXattr(bytes, &acl).ok()) {
      EXPECT_EQ(EncodePosixAclXattr(acl).size(), bytes.size());
    }
  }
}

TEST(PosixAcl, EncodeSortsByTagAndIdAndMarksUndefinedIds) {
  google::protobuf::RepeatedPtrField<v1::AclEntry> acl;
  for (auto [tag, id, perm] :
       std::vector<std::tuple<uint32_t, uint32_t, uint32_t>>{{32, 99, 4},    // other (id ignored)
                                                             {2, 1000, 6},   // user:1000
                                                             {1, 0, 7},      // user::
                                                             {2, 5, 4},      // user:5
                                                             {4, 0, 5},      // group::
                                                             {16, 0, 6}}) {  // mask
    v1::AclEntry* e = acl.Add();
    e->set_tag(tag);
    e->set_id(id);
    e->set_perm(perm);
  }
  const std::string want(
      "\x02\x00\x00\x00"
      "\x01\x00\x07\x00\xff\xff\xff\xff"
      "\x02\x00\x04\x00\x05\x00\x00\x00"
      "\x02\x00\x06\x00\xe8\x03\x00\x00"
      "\x04\x00\x05\x00\xff\xff\xff\xff"
      "\x10\x00\x06\x00\xff\xff\xff\xff"
      "\x20\x00\x04\x00\xff\xff\xff\xff",
      4 + 6 * 8);
  EXPECT_EQ(EncodePosixAclXattr(acl), want);
  // No entries: the header alone.
  EXPECT_EQ(EncodePosixAclXattr({}), std::string("\x02\x00\x00\x00", 4));
}

}  // namespace
}  // namespace arca::fs
