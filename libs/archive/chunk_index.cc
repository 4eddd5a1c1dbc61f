#include "libs/archive/chunk_index.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "libs/archive/little_endian.h"

namespace arca {
namespace {

using internal_le::AppendU32;
using internal_le::AppendU64;
using internal_le::LoadU32;
using internal_le::LoadU64;

}  // namespace

void ChunkIndex::Append(const Digest& digest, uint64_t length) {
  const uint64_t start = stream_length();
  if (length == 0 || length > std::numeric_limits<uint64_t>::max() - start) {
    std::fprintf(stderr, "ChunkIndex::Append: invalid chunk length %llu at offset %llu\n",
                 static_cast<unsigned long long>(length), static_cast<unsigned long long>(start));
    std::abort();
  }
  entries_.push_back(IndexEntry{start + length, digest});
}

absl::StatusOr<ChunkRange> ChunkIndex::Find(uint64_t offset, uint64_t length) const {
  const uint64_t total = stream_length();
  if (offset > total || length > total - offset) {
    return absl::OutOfRangeError(absl::StrCat("range [", offset, ", +", length,
                                              ") is beyond the stream's end (", total, " bytes)"));
  }
  ChunkRange range;
  if (length == 0) return range;
  // First chunk whose end is past `offset`, and first whose end reaches the
  // range's end.
  auto by_end = [](const IndexEntry& e, uint64_t v) { return e.end_offset <= v; };
  auto first = std::lower_bound(entries_.begin(), entries_.end(), offset, by_end);
  const uint64_t end = offset + length;
  auto last = std::lower_bound(first, entries_.end(), end,
                               [](const IndexEntry& e, uint64_t v) { return e.end_offset < v; });
  range.first = static_cast<size_t>(first - entries_.begin());
  range.last = static_cast<size_t>(last - entries_.begin());
  range.first_start = ChunkStart(range.first);
  range.empty = false;
  return range;
}

std::string ChunkIndex::Encode(v1::StreamKind kind) const {
  std::string out;
  out.reserve(kChunkIndexHeaderSize + kChunkIndexEntrySize * entries_.size() +
              kChunkIndexChecksumSize);
  out.append(kChunkIndexMagic.data(), kChunkIndexMagic.size());
  AppendU32(&out, kChunkIndexVersion);
  AppendU32(&out, static_cast<uint32_t>(kind));
  AppendU64(&out, entries_.size());
  AppendU64(&out, stream_length());
  for (const IndexEntry& e : entries_) {
    AppendU64(&out, e.end_offset);
    out.append(e.digest.Raw().data(), e.digest.bytes.size());
  }
  const Digest sum = Sha256(std::string_view(out));
  out.append(sum.Raw().data(), sum.bytes.size());
  return out;
}

absl::StatusOr<ChunkIndex> ChunkIndex::Decode(std::span<const uint8_t> data,
                                              v1::StreamKind expected_kind,
                                              absl::string_view name) {
  auto corrupt = [&](auto&&... what) {
    return absl::DataLossError(absl::StrCat("index ", name, ": ", what...));
  };
  constexpr size_t kMinSize = kChunkIndexHeaderSize + kChunkIndexChecksumSize;
  if (data.size() < kMinSize) {
    return corrupt("truncated (", data.size(), " bytes, at least ", kMinSize, " needed)");
  }
  const uint8_t* p = data.data();
  if (std::memcmp(p, kChunkIndexMagic.data(), kChunkIndexMagic.size()) != 0) {
    return corrupt("bad magic (not an arca index file)");
  }
  const uint32_t version = LoadU32(p + 8);
  const uint32_t kind = LoadU32(p + 12);
  const uint64_t count = LoadU64(p + 16);
  const uint64_t stream_length = LoadU64(p + 24);
  const uint64_t max_count = (data.size() - kMinSize) / kChunkIndexEntrySize;
  if (count > max_count) {
    return corrupt("truncated (", data.size(), " bytes cannot hold the ", count,
                   " chunks the header announces)");
  }
  const uint64_t expected_size = kMinSize + count * kChunkIndexEntrySize;
  if (data.size() != expected_size) {
    return corrupt("size mismatch (", data.size(), " bytes, but ", count, " chunks need exactly ",
                   expected_size, ")");
  }
  const size_t body = data.size() - kChunkIndexChecksumSize;
  const Digest sum = Sha256(data.first(body));
  if (std::memcmp(sum.bytes.data(), p + body, kChunkIndexChecksumSize) != 0) {
    return corrupt("checksum mismatch (the file is corrupt)");
  }
  if (version == 0) return corrupt("invalid version 0");
  if (version > kChunkIndexVersion) {
    return absl::FailedPreconditionError(absl::StrCat("index ", name, ": version ", version,
                                                      " is newer than this arca supports (",
                                                      kChunkIndexVersion, "): upgrade arca"));
  }
  if (kind != static_cast<uint32_t>(expected_kind)) {
    return corrupt("unexpected stream kind ", kind, " (expected ", static_cast<int>(expected_kind),
                   ")");
  }
  ChunkIndex index;
  index.entries_.resize(count);
  uint64_t prev_end = 0;
  const uint8_t* e = p + kChunkIndexHeaderSize;
  for (uint64_t i = 0; i < count; ++i, e += kChunkIndexEntrySize) {
    const uint64_t end = LoadU64(e);
    if (end <= prev_end) {
      return corrupt("chunk ", i, " ends at ", end, ", not after ", prev_end,
                     " (zero-length or non-increasing chunk)");
    }
    index.entries_[i].end_offset = end;
    std::memcpy(index.entries_[i].digest.bytes.data(), e + 8, 32);
    prev_end = end;
  }
  if (stream_length != prev_end) {
    return corrupt("stream length ", stream_length, " differs from the last chunk end ", prev_end);
  }
  return index;
}

}  // namespace arca
