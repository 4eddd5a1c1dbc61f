// Fuzz target for MetadataStreamReader (run deterministically by
// //libs/testing:fuzz_driver over testdata/metadata_stream_corpus).
//
// Each input is decoded twice: as given, and with its record CRCs, stream
// check and trailer CRC recomputed, so that mutations get past the checksums
// into the Entry parser, ValidateEntry and the order and count checks.
// Invariants (abort on violation): no crash; a stream the reader accepts is
// accepted by the writer entry by entry, and its re-encoding decodes to the
// same number of entries.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "libs/archive/metadata_stream.h"
#include "libs/hash/crc32c.h"

namespace arca {
namespace {

uint32_t Load32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(s[at + i]);
  return v;
}
void Store32(std::string* s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*s)[at + i] = static_cast<char>(v >> (8 * i));
}
uint32_t Crc(const std::string& s, size_t at, size_t n) {
  return Crc32c(std::string_view(s.data() + at, n));
}

std::string Repair(std::string s) {
  if (s.size() < kMetadataStreamHeaderSize) return s;
  uint32_t check = Crc(s, 0, kMetadataStreamHeaderSize);
  size_t pos = kMetadataStreamHeaderSize;
  while (pos + kMetadataRecordPrefixSize <= s.size()) {
    const uint32_t len = Load32(s, pos);
    if (len == kMetadataTrailerMarker) {
      if (pos + kMetadataStreamTrailerSize <= s.size()) {
        Store32(&s, pos + 16, check);
        Store32(&s, pos + 20, Crc(s, pos, 20));
      }
      break;
    }
    if (len == 0 || len > kMaxMetadataRecordLength || pos + 8 + len > s.size()) break;
    Store32(&s, pos + 4, Crc(s, pos + 8, len));
    check = Crc32cExtend(
        check, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data() + pos), 8));
    pos += 8 + len;
  }
  return s;
}

// Hands out the bytes in pieces of varying size.
class ChoppySource final : public ByteSource {
 public:
  explicit ChoppySource(std::string_view d) : d_(d) {}
  absl::StatusOr<size_t> Read(std::span<uint8_t> buf) override {
    size_t n = std::min({buf.size(), d_.size() - pos_, size_t{1} + (pos_ * 31) % 97});
    for (size_t i = 0; i < n; ++i) buf[i] = static_cast<uint8_t>(d_[pos_ + i]);
    pos_ += n;
    return n;
  }

 private:
  std::string_view d_;
  size_t pos_ = 0;
};

void Check(bool ok) {
  if (!ok) std::abort();
}

void DecodeAndReencode(std::string_view bytes, bool choppy) {
  StringByteSource plain(bytes);
  ChoppySource chopped(bytes);
  MetadataStreamReader reader(choppy ? static_cast<ByteSource*>(&chopped) : &plain);
  std::vector<v1::Entry> entries;
  v1::Entry e;
  while (true) {
    absl::StatusOr<bool> more = reader.Next(&e);
    if (!more.ok()) return;
    if (!*more) break;
    entries.push_back(e);
  }
  Check(reader.offset() == bytes.size());
  MetadataStreamWriter writer;
  std::string out;
  writer.WriteHeader(&out);
  for (const v1::Entry& x : entries) Check(writer.Append(x, &out).ok());
  writer.WriteTrailer(&out);
  StringByteSource again(out);
  MetadataStreamReader reader2(&again);
  size_t n = 0;
  while (true) {
    absl::StatusOr<bool> more = reader2.Next(&e);
    Check(more.ok());
    if (!*more) break;
    ++n;
  }
  Check(n == entries.size());
}

}  // namespace
}  // namespace arca

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  arca::DecodeAndReencode(in, /*choppy=*/false);
  const std::string repaired = arca::Repair(std::string(in));
  arca::DecodeAndReencode(repaired, /*choppy=*/true);
  return 0;
}
