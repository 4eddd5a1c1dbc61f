#include "libs/pipeline/pax_writer.h"

#include <sys/sysmacros.h>

#include <string>

#include "gtest/gtest.h"

namespace arca {
namespace {

std::string Field(const std::string& block, size_t off, size_t len) {
  std::string s = block.substr(off, len);
  return s.substr(0, s.find('\0'));
}

// The ustar header is the last block of PaxMember::header.
std::string Ustar(const PaxMember& m) { return m.header.substr(m.header.size() - 512); }

// The pax records ("" when there is no 'x' header).
std::string Records(const PaxMember& m) {
  if (m.header.size() == 512) return "";
  EXPECT_EQ(m.header[156], 'x');
  uint64_t size = std::stoull(Field(m.header, 124, 12), nullptr, 8);
  return m.header.substr(512, size);
}

bool ChecksumOk(const std::string& b) {
  uint32_t sum = 0;
  for (size_t i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? ' ' : static_cast<uint8_t>(b[i]);
  return std::stoul(Field(b, 148, 8), nullptr, 8) == sum;
}

v1::Entry File(const std::string& path, uint64_t size) {
  v1::Entry e;
  e.set_path(path);
  e.set_type(v1::ENTRY_TYPE_REGULAR);
  e.set_mode(0644);
  e.set_uid(1000);
  e.set_gid(100);
  e.set_size(size);
  e.set_mtime_ns(int64_t{1700000000} * 1000000000);
  e.mutable_payload()->set_offset(7);
  e.mutable_payload()->set_length(size);
  return e;
}

TEST(PaxRecord, LengthCountsItself) {
  EXPECT_EQ(PaxRecord("a", "b"), "6 a=b\n");
  // 7 bytes of body: "10 " would make 10 — the length grows a digit.
  std::string r = PaxRecord("path", std::string(93, 'x'));
  EXPECT_EQ(r.size(), std::stoul(r.substr(0, r.find(' '))));
  EXPECT_EQ(r.substr(0, 4), "103 ");
}

TEST(PaxTime, Fractions) {
  EXPECT_EQ(PaxTime(0), "0");
  EXPECT_EQ(PaxTime(1500000000), "1.5");
  EXPECT_EQ(PaxTime(1000000001), "1.000000001");
  EXPECT_EQ(PaxTime(-1), "-0.000000001");
  EXPECT_EQ(PaxTime(-1500000000), "-1.5");
}

TEST(PaxWriter, ShortFileHasOnlyUstar) {
  absl::StatusOr<PaxMember> m = EncodePaxMember(File("a/b.txt", 5));
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->header.size(), 512u);
  EXPECT_EQ(Field(m->header, 0, 100), "a/b.txt");
  EXPECT_EQ(Field(m->header, 100, 8), "0000644");
  EXPECT_EQ(Field(m->header, 108, 8), "0001750");
  EXPECT_EQ(Field(m->header, 124, 12), "00000000005");
  EXPECT_EQ(m->header[156], '0');
  EXPECT_EQ(Field(m->header, 257, 6), "ustar");
  EXPECT_TRUE(ChecksumOk(m->header));
  EXPECT_EQ(m->data_size, 5u);
  EXPECT_EQ(TarPadding(5).size(), 507u);
  EXPECT_EQ(TarPadding(512).size(), 0u);
}

TEST(PaxWriter, LongAndNonAsciiNamesGoToPaxPath) {
  std::string long_name = std::string(150, 'd') + "/" + std::string(120, 'f');
  absl::StatusOr<PaxMember> m = EncodePaxMember(File(long_name, 0));
  ASSERT_TRUE(m.ok());
  EXPECT_NE(Records(*m).find(PaxRecord("path", long_name)), std::string::npos);
  EXPECT_LE(Field(Ustar(*m), 0, 100).size(), 100u);
  EXPECT_TRUE(ChecksumOk(Ustar(*m)));
  EXPECT_TRUE(ChecksumOk(m->header));

  std::string latin1 = "caf\xe9";  // not UTF-8
  m = EncodePaxMember(File(latin1, 0));
  ASSERT_TRUE(m.ok());
  EXPECT_NE(Records(*m).find(PaxRecord("path", latin1)), std::string::npos);
  // Exactly 100 ASCII bytes still fit the ustar field.
  m = EncodePaxMember(File(std::string(100, 'n'), 0));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->header.size(), 512u);
}

TEST(PaxWriter, LongSymlinkTargetAndHardlink) {
  v1::Entry e = File("link", 0);
  e.set_type(v1::ENTRY_TYPE_SYMLINK);
  e.clear_payload();
  std::string target(300, 't');
  e.set_symlink_target(target);
  absl::StatusOr<PaxMember> m = EncodePaxMember(e);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(Ustar(*m)[156], '2');
  EXPECT_NE(Records(*m).find(PaxRecord("linkpath", target)), std::string::npos);
  EXPECT_EQ(m->data_size, 0u);

  v1::Entry h = File("second", 0);
  h.set_type(v1::ENTRY_TYPE_HARDLINK);
  h.set_hardlink_target("first");
  m = EncodePaxMember(h);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(Ustar(*m)[156], '1');
  EXPECT_EQ(Field(Ustar(*m), 157, 100), "first");
}

TEST(PaxWriter, HugeIdsAndNanosecondTimes) {
  v1::Entry e = File("f", 0);
  e.set_uid(4000000000u);
  e.set_gid(3000000u);
  e.set_mtime_ns(int64_t{1700000000} * 1000000000 + 123456789);
  e.set_atime_ns(-5);
  absl::StatusOr<PaxMember> m = EncodePaxMember(e);
  ASSERT_TRUE(m.ok());
  std::string r = Records(*m);
  EXPECT_NE(r.find(PaxRecord("uid", "4000000000")), std::string::npos);
  EXPECT_NE(r.find(PaxRecord("gid", "3000000")), std::string::npos);
  EXPECT_NE(r.find(PaxRecord("mtime", "1700000000.123456789")), std::string::npos);
  EXPECT_NE(r.find(PaxRecord("atime", "-0.000000005")), std::string::npos);
  EXPECT_EQ(Field(Ustar(*m), 136, 12), "14524770400");  // 1700000000 in octal
}

TEST(PaxWriter, XattrsAclsDevicesDirectories) {
  v1::Entry d = File("dir", 0);
  d.set_type(v1::ENTRY_TYPE_DIRECTORY);
  d.clear_payload();
  v1::Xattr* x = d.add_xattrs();
  x->set_name("user.bin");
  x->set_value(std::string("a\0\n=b", 5));
  auto add = [](google::protobuf::RepeatedPtrField<v1::AclEntry>* acl, uint32_t tag, uint32_t id,
                uint32_t perm) {
    v1::AclEntry* a = acl->Add();
    a->set_tag(tag);
    a->set_id(id);
    a->set_perm(perm);
  };
  add(d.mutable_acl_access(), 1, 0, 7);
  add(d.mutable_acl_access(), 2, 1234, 5);
  add(d.mutable_acl_access(), 4, 0, 4);
  add(d.mutable_acl_access(), 16, 0, 5);
  add(d.mutable_acl_access(), 32, 0, 0);
  add(d.mutable_acl_default(), 1, 0, 6);
  absl::StatusOr<PaxMember> m = EncodePaxMember(d);
  ASSERT_TRUE(m.ok());
  std::string r = Records(*m);
  EXPECT_NE(r.find(PaxRecord("SCHILY.xattr.user.bin", std::string("a\0\n=b", 5))),
            std::string::npos);
  EXPECT_NE(r.find(PaxRecord("SCHILY.acl.access",
                             "user::rwx,user:1234:r-x,group::r--,mask::r-x,other::---")),
            std::string::npos);
  EXPECT_NE(r.find(PaxRecord("SCHILY.acl.default", "user::rw-")), std::string::npos);
  EXPECT_EQ(Field(Ustar(*m), 0, 100), "dir/");
  EXPECT_EQ(Ustar(*m)[156], '5');

  v1::Entry root = d;
  root.set_path("");
  root.clear_xattrs();
  root.clear_acl_access();
  root.clear_acl_default();
  m = EncodePaxMember(root);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(Field(m->header, 0, 100), "./");

  v1::Entry b = File("loop0", 0);
  b.set_type(v1::ENTRY_TYPE_BLOCK_DEVICE);
  b.clear_payload();
  b.set_rdev(makedev(7, 300));
  m = EncodePaxMember(b);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->header[156], '4');
  EXPECT_EQ(Field(m->header, 329, 8), "0000007");
  EXPECT_EQ(Field(m->header, 337, 8), "0000454");

  v1::Entry s = File("sock", 0);
  s.set_type(v1::ENTRY_TYPE_SOCKET);
  EXPECT_FALSE(EncodePaxMember(s).ok());
}

TEST(PaxWriter, SparseFileGnu10) {
  v1::Entry e = File("s", 0);
  e.set_size(1 << 30);
  e.set_sparse(true);
  v1::Extent* x = e.add_extents();
  x->set_offset(1 << 20);
  x->set_length(5);
  x = e.add_extents();
  x->set_offset(700 << 20);
  x->set_length(123);
  e.mutable_payload()->set_length(128);
  absl::StatusOr<PaxMember> m = EncodePaxMember(e);
  ASSERT_TRUE(m.ok()) << m.status();
  std::string r = Records(*m);
  EXPECT_NE(r.find(PaxRecord("GNU.sparse.major", "1")), std::string::npos);
  EXPECT_NE(r.find(PaxRecord("GNU.sparse.name", "s")), std::string::npos);
  EXPECT_NE(r.find(PaxRecord("GNU.sparse.realsize", "1073741824")), std::string::npos);
  EXPECT_EQ(r.find("path="), std::string::npos);
  EXPECT_EQ(m->data_prefix.substr(0, 48),
            "3\n1048576\n5\n734003200\n123\n1073741824\n0\n" + std::string(9, '\0'));
  EXPECT_EQ(m->data_prefix.size(), 512u);
  EXPECT_EQ(m->data_size, 512u + 128);
  EXPECT_EQ(Field(Ustar(*m), 124, 12), "00000001200");

  e.mutable_payload()->set_length(100);  // disagrees with the extents
  EXPECT_FALSE(EncodePaxMember(e).ok());
}

}  // namespace
}  // namespace arca
