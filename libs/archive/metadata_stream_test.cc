#include "libs/archive/metadata_stream.h"

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "libs/archive/test_entries.h"
#include "libs/hash/crc32c.h"

namespace arca {
namespace {

using ::testing::HasSubstr;

void PutU32(std::string* s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s->push_back(static_cast<char>(v >> (8 * i)));
}
void PutU64(std::string* s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s->push_back(static_cast<char>(v >> (8 * i)));
}
void SetU32(std::string* s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*s)[at + i] = static_cast<char>(v >> (8 * i));
}
void SetU64(std::string* s, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) (*s)[at + i] = static_cast<char>(v >> (8 * i));
}
uint32_t GetU32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(s[at + i]);
  return v;
}

std::string Header(uint32_t version = 1, uint32_t flags = 0) {
  std::string h = "ARCAMETA";
  PutU32(&h, version);
  PutU32(&h, flags);
  return h;
}

// A hand-built stream of raw record bodies with a correct trailer (unless
// count is overridden), bypassing the writer's checks.
std::string HandStream(const std::vector<std::string>& bodies, int64_t count = -1) {
  std::string s = Header();
  uint32_t check = Crc32c(s);
  for (const std::string& b : bodies) {
    std::string prefix;
    PutU32(&prefix, static_cast<uint32_t>(b.size()));
    PutU32(&prefix, Crc32c(b));
    check = Crc32cExtend(
        check, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(prefix.data()), 8));
    s += prefix + b;
  }
  std::string t;
  PutU32(&t, 0xFFFFFFFFu);
  PutU32(&t, 0);
  PutU64(&t, count < 0 ? bodies.size() : static_cast<uint64_t>(count));
  PutU32(&t, check);
  PutU32(&t, Crc32c(t));
  return s + t;
}

// Recomputes the trailer CRC of a stream whose last 24 bytes are a trailer.
void FixTrailerCrc(std::string* s) {
  const size_t t = s->size() - 24;
  SetU32(s, t + 20, Crc32c(std::string_view(s->data() + t, 20)));
}

std::string Encode(const std::vector<v1::Entry>& entries) {
  MetadataStreamWriter w;
  std::string out;
  w.WriteHeader(&out);
  for (const v1::Entry& e : entries) {
    absl::Status s = w.Append(e, &out);
    EXPECT_TRUE(s.ok()) << s;
  }
  w.WriteTrailer(&out);
  EXPECT_EQ(w.bytes_written(), out.size());
  EXPECT_EQ(w.entries(), entries.size());
  return out;
}

absl::StatusOr<std::vector<v1::Entry>> DecodeAll(ByteSource* src) {
  MetadataStreamReader r(src);
  std::vector<v1::Entry> out;
  v1::Entry e;
  while (true) {
    absl::StatusOr<bool> more = r.Next(&e);
    if (!more.ok()) return more.status();
    if (!*more) break;
    out.push_back(e);
  }
  return out;
}

absl::StatusOr<std::vector<v1::Entry>> DecodeAll(const std::string& bytes) {
  StringByteSource src(bytes);
  return DecodeAll(&src);
}

v1::Entry File(std::string path, uint64_t size = 0) {
  v1::Entry e;
  e.set_path(std::move(path));
  e.set_type(v1::ENTRY_TYPE_REGULAR);
  e.set_mode(0644);
  e.set_size(size);
  e.mutable_payload()->set_length(size);
  return e;
}

v1::Entry Dir(std::string path) {
  v1::Entry e;
  e.set_path(std::move(path));
  e.set_type(v1::ENTRY_TYPE_DIRECTORY);
  e.set_mode(0755);
  return e;
}

void ExpectSame(const std::vector<v1::Entry>& a, const std::vector<v1::Entry>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(a[i], b[i]))
        << i << ": " << a[i].ShortDebugString() << " vs " << b[i].ShortDebugString();
  }
}

// Returns the bytes in pieces of pseudo-random size (1..max).
class ChoppyByteSource final : public ByteSource {
 public:
  ChoppyByteSource(std::string_view data, size_t max) : data_(data), max_(max) {}
  absl::StatusOr<size_t> Read(std::span<uint8_t> buf) override {
    size_t n = std::min({buf.size(), data_.size() - pos_, 1 + rng_() % max_});
    std::copy_n(data_.data() + pos_, n, buf.data());
    pos_ += n;
    return n;
  }

 private:
  std::string_view data_;
  size_t max_;
  size_t pos_ = 0;
  std::mt19937 rng_{7};
};

class FailingByteSource final : public ByteSource {
 public:
  explicit FailingByteSource(std::string_view prefix) : prefix_(prefix) {}
  absl::StatusOr<size_t> Read(std::span<uint8_t> buf) override {
    if (done_) return absl::UnavailableError("disk went away");
    size_t n = std::min(buf.size(), prefix_.size());
    std::copy_n(prefix_.data(), n, buf.data());
    done_ = true;
    return n;
  }

 private:
  std::string_view prefix_;
  bool done_ = false;
};

// ---------------------------------------------------------------- round trips

TEST(MetadataStream, RoundTripEveryType) {
  std::vector<v1::Entry> entries = testing::MakeTestEntries(5000);
  std::set<int> types;
  bool sparse = false, xattrs = false, acls = false;
  for (const v1::Entry& e : entries) {
    types.insert(e.type());
    sparse |= e.sparse();
    xattrs |= e.xattrs_size() > 0;
    acls |= e.acl_default_size() > 0;
  }
  EXPECT_EQ(types.size(), 7u);  // every storable type
  EXPECT_TRUE(sparse && xattrs && acls);

  const std::string bytes = Encode(entries);
  absl::StatusOr<std::vector<v1::Entry>> back = DecodeAll(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSame(entries, *back);

  for (size_t max : {1, 7, 4096, 100000}) {
    ChoppyByteSource src(bytes, max);
    back = DecodeAll(&src);
    ASSERT_TRUE(back.ok()) << max << ": " << back.status();
    ExpectSame(entries, *back);
  }
}

TEST(MetadataStream, EmptyStreamIsHeaderAndTrailer) {
  MetadataStreamWriter w;
  std::string out;
  w.WriteHeader(&out);
  w.WriteTrailer(&out);
  EXPECT_EQ(out.size(), 40u);
  EXPECT_EQ(out, HandStream({}));
  StringByteSource src(out);
  MetadataStreamReader r(&src);
  v1::Entry e;
  EXPECT_EQ(r.Next(&e).value(), false);
  EXPECT_EQ(r.Next(&e).value(), false);  // stays at the end
  EXPECT_EQ(r.offset(), 40u);
}

TEST(MetadataStream, LayoutMatchesTheDocumentedFormat) {
  v1::Entry e = File("a", 3);
  std::string out;
  MetadataStreamWriter w;
  w.WriteHeader(&out);
  ASSERT_TRUE(w.Append(e, &out).ok());
  w.WriteTrailer(&out);
  EXPECT_EQ(out, HandStream({e.SerializeAsString()}));
  EXPECT_EQ(out.substr(0, 16), std::string("ARCAMETA\x01\0\0\0\0\0\0\0", 16));
  EXPECT_EQ(GetU32(out, 16), e.ByteSizeLong());
}

TEST(MetadataStream, OffsetCountsConsumedBytes) {
  std::vector<v1::Entry> entries = {Dir(""), File("a", 1), File("b", 2)};
  std::string bytes = Encode(entries);
  StringByteSource src(bytes);
  MetadataStreamReader r(&src);
  v1::Entry e;
  EXPECT_EQ(r.offset(), 0u);
  ASSERT_TRUE(r.Next(&e).value());
  EXPECT_EQ(r.offset(), 16 + 8 + entries[0].ByteSizeLong());
  ASSERT_TRUE(r.Next(&e).value());
  ASSERT_TRUE(r.Next(&e).value());
  EXPECT_EQ(r.entries(), 3u);
  EXPECT_FALSE(r.Next(&e).value());
  EXPECT_EQ(r.offset(), bytes.size());
}

// ---------------------------------------------------------------- writer errors

TEST(MetadataStreamWriter, RejectsMisuseAndBadEntries) {
  MetadataStreamWriter w;
  std::string out;
  absl::Status s = w.Append(File("a"), &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("before WriteHeader"));

  w.WriteHeader(&out);
  const std::string after_header = out;
  s = w.Append(File("../x"), &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("'..' component"));
  EXPECT_EQ(out, after_header);  // nothing appended

  ASSERT_TRUE(w.Append(File("b"), &out).ok());
  const std::string after_b = out;
  s = w.Append(File("a"), &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("entry \"a\" is not after \"b\" in archive order"));
  s = w.Append(File("b"), &out);  // duplicate
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out, after_b);

  v1::Entry big = File("c");
  auto* x = big.add_xattrs();
  x->set_name("user.big");
  x->set_value(std::string(kMaxMetadataRecordLength, 'x'));
  s = w.Append(big, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("serializes to"));
  EXPECT_EQ(out, after_b);
  EXPECT_EQ(w.entries(), 1u);

  w.WriteTrailer(&out);
  s = w.Append(File("d"), &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("after WriteTrailer"));
  EXPECT_TRUE(DecodeAll(out).ok());
}

TEST(MetadataStreamWriterDeathTest, TrailerTwiceAborts) {
  MetadataStreamWriter w;
  std::string out;
  EXPECT_DEATH(w.WriteTrailer(&out), "before WriteHeader");
  w.WriteHeader(&out);
  EXPECT_DEATH(w.WriteHeader(&out), "called twice");
}

TEST(MetadataStreamWriter, LargestRecordRoundTrips) {
  v1::Entry big = File("c");
  auto* x = big.add_xattrs();
  x->set_name("user.big");
  x->set_value(std::string(kMaxMetadataRecordLength - 64, 'x'));
  std::vector<v1::Entry> entries = {Dir(""), big, File("d")};
  absl::StatusOr<std::vector<v1::Entry>> back = DecodeAll(Encode(entries));
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSame(entries, *back);
}

// ---------------------------------------------------------------- corruption

struct Corruption {
  std::string name;
  std::string bytes;
  absl::StatusCode code;
  std::string fragment;
};

std::vector<Corruption> Corruptions() {
  const std::vector<v1::Entry> entries = {Dir(""), File("a", 5), Dir("b"), File("b/c", 7)};
  const std::string good = Encode(entries);
  const size_t rec1 = 16 + 8 + entries[0].ByteSizeLong();  // offset of record 1
  const size_t trailer = good.size() - 24;
  std::vector<Corruption> c;
  auto add = [&](std::string name, std::string bytes, absl::StatusCode code, std::string fragment) {
    c.push_back({std::move(name), std::move(bytes), code, std::move(fragment)});
  };
  using C = absl::StatusCode;

  add("empty", "", C::kDataLoss, "metadata stream: empty stream (no header) at byte 0");
  add("short header", good.substr(0, 10), C::kDataLoss,
      "metadata stream: truncated header (10 of 16 bytes) at byte 0");
  {
    std::string s = good;
    s[3] = 'X';
    add("bad magic", s, C::kDataLoss,
        "metadata stream: bad magic (not a metadata stream) at byte 0");
  }
  {
    std::string s = good;
    SetU32(&s, 8, 2);
    add("newer version", s, C::kFailedPrecondition,
        "metadata stream version 2 is newer than this arca supports (1): upgrade arca");
    SetU32(&s, 8, 0);
    add("version 0", s, C::kDataLoss, "invalid version 0 at byte 8");
  }
  {
    std::string s = good;
    SetU32(&s, 12, 4);
    add("flags", s, C::kDataLoss, "unknown header flags 0x00000004 at byte 12");
  }
  {
    std::string s = good;
    SetU32(&s, rec1, 0);
    add("zero length", s, C::kDataLoss,
        "metadata stream: record length 0 at byte " + std::to_string(rec1));
    SetU32(&s, rec1, kMaxMetadataRecordLength + 1);
    add("oversize length", s, C::kDataLoss,
        "record length 16777217 exceeds the limit of 16777216 bytes at byte " +
            std::to_string(rec1));
  }
  {
    std::string s = good;
    s[rec1 + 9] ^= 0x20;
    add("record CRC", s, C::kDataLoss, "record CRC mismatch (stored 0x");
    add("record CRC offset", s, C::kDataLoss, ") at byte " + std::to_string(rec1));
  }
  add("truncated record", good.substr(0, rec1 + 10), C::kDataLoss,
      "truncated record (10 of " + std::to_string(8 + entries[1].ByteSizeLong()) +
          " bytes) at byte " + std::to_string(rec1));
  add("truncated record header", good.substr(0, rec1 + 3), C::kDataLoss,
      "truncated record header (3 of 8 bytes) at byte " + std::to_string(rec1));
  add("missing trailer", good.substr(0, trailer), C::kDataLoss,
      "missing trailer (the stream ends after 4 entries) at byte " + std::to_string(trailer));
  add("header only", good.substr(0, 16), C::kDataLoss,
      "missing trailer (the stream ends after 0 entries) at byte 16");
  add("truncated trailer", good.substr(0, good.size() - 1), C::kDataLoss,
      "truncated trailer (23 of 24 bytes) at byte " + std::to_string(trailer));
  {
    std::string s = good;
    s[trailer + 9] ^= 1;
    add("trailer CRC", s, C::kDataLoss, "trailer CRC mismatch");
    SetU64(&s, trailer + 8, 5);
    FixTrailerCrc(&s);
    add("count mismatch", s, C::kDataLoss,
        "entry count mismatch: the trailer says 5, the stream holds 4 at byte " +
            std::to_string(trailer));
  }
  {
    std::string s = good;
    SetU32(&s, trailer + 4, 1);
    FixTrailerCrc(&s);
    add("reserved", s, C::kDataLoss, "trailer reserved field is 1, expected 0");
  }
  {
    // Record 1 ("a") removed and the count fixed: the order is still fine,
    // only the stream check sees it.
    std::string s = good.substr(0, rec1) + good.substr(rec1 + 8 + entries[1].ByteSizeLong());
    SetU64(&s, s.size() - 16, 3);
    FixTrailerCrc(&s);
    add("dropped record", s, C::kDataLoss, "stream check mismatch");
  }
  add("trailing garbage", good + "x", C::kDataLoss,
      "unexpected bytes after the trailer at byte " + std::to_string(good.size()));
  add("two trailers", good + good.substr(trailer), C::kDataLoss,
      "unexpected bytes after the trailer");
  add("unparsable", HandStream({Dir("").SerializeAsString(), "\xff\xff\xff"}), C::kDataLoss,
      "unparsable entry (3 bytes) at byte " + std::to_string(rec1));
  add("bad entry", HandStream({Dir("").SerializeAsString(), File("../x").SerializeAsString()}),
      C::kDataLoss,
      "invalid entry (entry \"../x\": path has a '..' component) at byte " + std::to_string(rec1));
  {
    v1::Entry sock = File("s");
    sock.set_type(v1::ENTRY_TYPE_SOCKET);
    sock.clear_payload();
    add("socket", HandStream({sock.SerializeAsString()}), C::kDataLoss,
        "is unspecified, unknown or a socket) at byte 16");
  }
  add("out of order", HandStream({File("b").SerializeAsString(), File("a").SerializeAsString()}),
      C::kDataLoss, "entry \"a\" is not after \"b\" in archive order at byte ");
  add("duplicate", HandStream({File("a").SerializeAsString(), File("a").SerializeAsString()}),
      C::kDataLoss, "entry \"a\" is not after \"a\" in archive order");
  add("bytewise not component order",
      HandStream({File("a-b").SerializeAsString(), File("a/b").SerializeAsString()}), C::kDataLoss,
      "entry \"a/b\" is not after \"a-b\" in archive order");
  return c;
}

TEST(MetadataStreamReader, EveryCorruptionIsReportedPrecisely) {
  for (const Corruption& c : Corruptions()) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::vector<v1::Entry>> got = DecodeAll(c.bytes);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), c.code) << got.status();
    EXPECT_THAT(got.status().message(), HasSubstr(c.fragment));
    // Same result whatever the read sizes.
    ChoppyByteSource src(c.bytes, 3);
    absl::StatusOr<std::vector<v1::Entry>> again = DecodeAll(&src);
    EXPECT_EQ(again.status(), got.status());
  }
}

TEST(MetadataStreamReader, ErrorsAreSticky) {
  std::string bytes = Encode({Dir(""), File("a")});
  bytes[20] ^= 1;  // CRC of record 0
  StringByteSource src(bytes);
  MetadataStreamReader r(&src);
  v1::Entry e;
  absl::StatusOr<bool> first = r.Next(&e);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(r.Next(&e).status(), first.status());
}

TEST(MetadataStreamReader, PropagatesSourceErrorsWithOffset) {
  const std::string bytes = Encode({Dir(""), File("a")});
  FailingByteSource src(std::string_view(bytes).substr(0, 20));
  MetadataStreamReader r(&src);
  v1::Entry e;
  absl::StatusOr<bool> got = r.Next(&e);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(got.status().message(),
              HasSubstr("metadata stream: reading at byte 20: disk went away"));
}

// ---------------------------------------------------------------- validation

TEST(ValidateEntry, AcceptsValidEntries) {
  EXPECT_TRUE(ValidateEntry(Dir("")).ok());
  EXPECT_TRUE(ValidateEntry(File("..x/.y/x..")).ok());
  EXPECT_TRUE(ValidateEntry(File(std::string("\x01\xff\n\\", 4), 9)).ok());
  v1::Entry sparse = File("s", 100);
  sparse.set_sparse(true);
  sparse.mutable_payload()->set_length(30);
  auto* x = sparse.add_extents();
  x->set_offset(0);
  x->set_length(10);
  x = sparse.add_extents();
  x->set_offset(80);
  x->set_length(20);
  EXPECT_TRUE(ValidateEntry(sparse).ok());
  sparse.clear_extents();  // all hole
  sparse.mutable_payload()->set_length(0);
  EXPECT_TRUE(ValidateEntry(sparse).ok());
  v1::Entry link;
  link.set_path("d/l");
  link.set_type(v1::ENTRY_TYPE_HARDLINK);
  link.set_hardlink_target("d");
  EXPECT_TRUE(ValidateEntry(link).ok());
  link.set_hardlink_target("c/z/z");
  EXPECT_TRUE(ValidateEntry(link).ok());
}

TEST(ValidateEntry, RejectsStructuralProblems) {
  struct Case {
    std::string name;
    v1::Entry entry;
    std::string fragment;
  };
  std::vector<Case> cases;
  auto bad_path = [&](std::string path, std::string fragment) {
    cases.push_back({"path " + path, File(path), std::move(fragment)});
  };
  bad_path("../x", "entry \"../x\": path has a '..' component");
  bad_path("a/..", "path has a '..' component");
  bad_path("/x", "entry \"/x\": path is absolute (leading '/')");
  bad_path("a//b", "entry \"a//b\": path has an empty component");
  bad_path("a/", "path has an empty component");
  bad_path("a/./b", "entry \"a/./b\": path has a '.' component");
  bad_path(".", "path has a '.' component");
  bad_path(std::string("a\0b", 3), "entry \"a\\x00\\x62\": path contains a NUL byte");

  auto with = [&](std::string name, std::string fragment, auto mutate) {
    v1::Entry e = File("f", 100);
    mutate(e);
    cases.push_back({std::move(name), std::move(e), std::move(fragment)});
  };
  with("unspecified type", "type 0 is unspecified",
       [](v1::Entry& e) { e.set_type(v1::ENTRY_TYPE_UNSPECIFIED); });
  with("unknown type", "type 42 is unspecified, unknown",
       [](v1::Entry& e) { e.set_type(static_cast<v1::EntryType>(42)); });
  with("socket", "type 8 is unspecified, unknown or a socket", [](v1::Entry& e) {
    e.set_type(v1::ENTRY_TYPE_SOCKET);
    e.clear_payload();
  });
  with("mode", "mode 100644 has bits outside 07777", [](v1::Entry& e) { e.set_mode(0100644); });
  with("length != size", "payload length 99 differs from size 100",
       [](v1::Entry& e) { e.mutable_payload()->set_length(99); });
  with("extents without sparse", "extents given but the file is not marked sparse",
       [](v1::Entry& e) { e.add_extents()->set_length(100); });
  auto sparse = [](std::vector<std::pair<uint64_t, uint64_t>> extents, uint64_t length) {
    return [=](v1::Entry& e) {
      e.set_sparse(true);
      e.mutable_payload()->set_length(length);
      for (auto [o, l] : extents) {
        auto* x = e.add_extents();
        x->set_offset(o);
        x->set_length(l);
      }
    };
  };
  with("unsorted extents", "extent 1 at 0 overlaps or precedes", sparse({{50, 10}, {0, 10}}, 20));
  with("overlapping extents", "extent 1 at 55 overlaps", sparse({{50, 10}, {55, 10}}, 20));
  with("extent beyond size", "extent 0 [95, +10) ends beyond size 100", sparse({{95, 10}}, 10));
  with("extent overflow", "ends beyond size", sparse({{~0ull - 1, 10}}, 10));
  with("empty extent", "extent 0 is empty", sparse({{0, 0}}, 0));
  with("extent sum", "extents sum to 20 bytes but the payload length is 21",
       sparse({{0, 10}, {50, 10}}, 21));
  with("payload overflow", "payload offset + length overflows",
       [](v1::Entry& e) { e.mutable_payload()->set_offset(~0ull); });
  with("payload on a directory", "payload, extents or sparse flag on a non-regular",
       [](v1::Entry& e) { e.set_type(v1::ENTRY_TYPE_DIRECTORY); });
  with("symlink target on a file", "symlink target set on an entry that is not a symlink",
       [](v1::Entry& e) { e.set_symlink_target("x"); });
  with("empty symlink", "symlink target is empty", [](v1::Entry& e) {
    e.set_type(v1::ENTRY_TYPE_SYMLINK);
    e.clear_payload();
  });
  with("NUL in symlink", "symlink target contains a NUL byte", [](v1::Entry& e) {
    e.set_type(v1::ENTRY_TYPE_SYMLINK);
    e.clear_payload();
    e.set_symlink_target(std::string("a\0", 2));
  });
  with("hardlink target on a file", "hardlink target set on an entry that is not a hardlink",
       [](v1::Entry& e) { e.set_hardlink_target("a"); });
  auto hardlink = [](std::string target) {
    return [=](v1::Entry& e) {
      e.set_type(v1::ENTRY_TYPE_HARDLINK);
      e.clear_payload();
      e.set_hardlink_target(target);
    };
  };
  with("empty hardlink target", "hardlink target is empty", hardlink(""));
  with("hardlink ..", "hardlink target \"../etc/passwd\": path has a '..' component",
       hardlink("../etc/passwd"));
  with("hardlink absolute", "hardlink target \"/etc/passwd\": path is absolute",
       hardlink("/etc/passwd"));
  with("hardlink to itself", "hardlink target \"f\" is not an earlier entry", hardlink("f"));
  with("hardlink forward", "hardlink target \"g\" is not an earlier entry", hardlink("g"));
  with("default ACL on a file", "default ACL on a non-directory",
       [](v1::Entry& e) { e.add_acl_default()->set_tag(1); });
  with("unsorted xattrs", "xattr \"user.a\" is not sorted after \"user.b\"", [](v1::Entry& e) {
    e.add_xattrs()->set_name("user.b");
    e.add_xattrs()->set_name("user.a");
  });
  with("duplicate xattrs", "is not sorted after", [](v1::Entry& e) {
    e.add_xattrs()->set_name("user.a");
    e.add_xattrs()->set_name("user.a");
  });
  with("empty xattr name", "xattr 0 has an empty name", [](v1::Entry& e) { e.add_xattrs(); });

  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::Status s = ValidateEntry(c.entry);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(s.message(), HasSubstr(c.fragment));
  }
}

// ---------------------------------------------------------------- order

int Sign(int v) { return (v > 0) - (v < 0); }

// Reference: split into components and compare the lists.
int ReferenceOrder(const std::string& a, const std::string& b) {
  auto split = [](const std::string& p) {
    std::vector<std::string> out;
    if (p.empty()) return out;
    size_t start = 0;
    while (true) {
      size_t slash = p.find('/', start);
      out.push_back(
          p.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    return out;
  };
  auto x = split(a), y = split(b);
  return x < y ? -1 : (y < x ? 1 : 0);
}

TEST(CompareArchiveOrder, ComponentOrder) {
  EXPECT_EQ(CompareArchiveOrder("", ""), 0);
  EXPECT_LT(CompareArchiveOrder("", "a"), 0);
  EXPECT_LT(CompareArchiveOrder("a", "a/b"), 0);
  EXPECT_LT(CompareArchiveOrder("a/b", "a-b"), 0);  // children of "a" first
  EXPECT_GT(CompareArchiveOrder("a-b", "a/b"), 0);
  EXPECT_LT(CompareArchiveOrder("a/b/c", "a/c"), 0);
  EXPECT_LT(CompareArchiveOrder("a/zzz", "ab"), 0);
  EXPECT_LT(CompareArchiveOrder("a/\xff", "a0"), 0);
  EXPECT_LT(CompareArchiveOrder("z", "\xc3\xa9"), 0);  // unsigned bytes
  EXPECT_GT(CompareArchiveOrder("a\x01", "a/b"), 0);   // "a" < "a\x01"
  EXPECT_EQ(CompareArchiveOrder("a/b", "a/b"), 0);

  std::vector<std::string> paths = {"a-b", "a/b", "", "a", "a/b/c", "b", "a b", "a/c"};
  std::sort(paths.begin(), paths.end(), [](const std::string& x, const std::string& y) {
    return CompareArchiveOrder(x, y) < 0;
  });
  EXPECT_EQ(paths, (std::vector<std::string>{"", "a", "a/b", "a/b/c", "a/c", "a b", "a-b", "b"}));
}

TEST(CompareArchiveOrder, MatchesComponentListComparison) {
  std::mt19937 rng(3);
  const std::string alphabet = std::string("ab-/.\x01\xff", 7);
  auto random_path = [&] {
    // Valid paths only: components of 1..3 characters from the alphabet
    // without '/'.
    std::string p;
    int comps = rng() % 4;
    for (int c = 0; c < comps; ++c) {
      if (c) p += '/';
      int len = 1 + rng() % 3;
      for (int i = 0; i < len; ++i) {
        char ch;
        do ch = alphabet[rng() % alphabet.size()];
        while (ch == '/');
        p += ch;
      }
    }
    return p;
  };
  for (int i = 0; i < 20000; ++i) {
    std::string a = random_path(), b = random_path();
    ASSERT_EQ(Sign(CompareArchiveOrder(a, b)), ReferenceOrder(a, b)) << a << " | " << b;
  }
}

TEST(CompareArchiveOrder, TestTreeIsInArchiveOrder) {
  std::vector<v1::Entry> entries = testing::MakeTestEntries(3000);
  for (size_t i = 1; i < entries.size(); ++i) {
    ASSERT_LT(CompareArchiveOrder(entries[i - 1].path(), entries[i].path()), 0) << i;
    ASSERT_EQ(Sign(CompareArchiveOrder(entries[i - 1].path(), entries[i].path())),
              ReferenceOrder(entries[i - 1].path(), entries[i].path()));
  }
}

}  // namespace
}  // namespace arca
