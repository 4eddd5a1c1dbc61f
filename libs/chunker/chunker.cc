#include "libs/chunker/chunker.h"

#include <algorithm>
#include <bit>
#include <cassert>

#include "absl/strings/str_cat.h"

namespace arca {
namespace {

// splitmix64 (Steele, Lea, Flood 2014; Vigna's reference code): the PRNG
// that fills the gear table. Never change: the table is part of the format.
constexpr uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

constexpr std::array<uint64_t, 256> MakeGearTable(uint64_t seed) {
  std::array<uint64_t, 256> table{};
  uint64_t state = seed;
  for (uint64_t& entry : table) entry = SplitMix64(state);
  return table;
}

constexpr std::array<uint64_t, 256> kBuiltinGear = MakeGearTable(0);

// Hash limit for "the top `bits` bits of the hash are zero".
constexpr uint64_t LimitForBits(int bits) { return bits >= 64 ? 0 : uint64_t{1} << (64 - bits); }

}  // namespace

ChunkerParams ChunkerParams::PayloadDefault() {
  return {.min_size = 256u << 10, .avg_size = 1u << 20, .max_size = 4u << 20};
}

ChunkerParams ChunkerParams::MetadataDefault() {
  return {.min_size = 64u << 10, .avg_size = 256u << 10, .max_size = 1u << 20};
}

absl::Status ChunkerParams::Validate() const {
  if (min_size < kMinChunkerMinSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "chunker min_size ", min_size, " is below the minimum ", kMinChunkerMinSize, " (64 KiB)"));
  }
  if (!std::has_single_bit(avg_size)) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunker avg_size ", avg_size, " is not a power of two"));
  }
  if (avg_size <= min_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunker avg_size ", avg_size, " must be larger than min_size ", min_size));
  }
  if (max_size <= avg_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunker max_size ", max_size, " must be larger than avg_size ", avg_size));
  }
  if (max_size > kMaxChunkerMaxSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "chunker max_size ", max_size, " is above the maximum ", kMaxChunkerMaxSize, " (64 MiB)"));
  }
  return absl::OkStatus();
}

ChunkerParams ChunkerParams::FromProto(const v1::ChunkerParams& proto) {
  return {.min_size = proto.min_size(), .avg_size = proto.avg_size(), .max_size = proto.max_size()};
}

v1::ChunkerParams ChunkerParams::ToProto() const {
  v1::ChunkerParams proto;
  proto.set_min_size(min_size);
  proto.set_avg_size(avg_size);
  proto.set_max_size(max_size);
  return proto;
}

std::array<uint64_t, 256> Chunker::GearTable(uint64_t seed) {
  return seed == 0 ? kBuiltinGear : MakeGearTable(seed);
}

Chunker::Chunker(const ChunkerParams& params, uint64_t seed)
    : params_(params), gear_(GearTable(seed)) {
  assert(params.Validate().ok());
  // Keep the scan well defined for any values: 1 <= min <= avg <= max.
  max_ = std::max<uint64_t>(params.max_size, 1);
  min_ = std::clamp<uint64_t>(params.min_size, 1, max_);
  avg_ = std::clamp<uint64_t>(params.avg_size, min_, max_);
  hash_start_ = min_ > 64 ? min_ - 64 : 0;
  const int avg_bits = std::bit_width(avg_) - 1;  // log2 for a power of two
  strict_limit_ = LimitForBits(std::min(avg_bits + 2, 64));
  loose_limit_ = LimitForBits(std::max(avg_bits - 2, 1));
}

void Chunker::Reset() {
  length_ = 0;
  hash_ = 0;
}

size_t Chunker::Scan(std::span<const uint8_t> data) {
  const uint8_t* const begin = data.data();
  const uint8_t* const end = begin + data.size();
  const uint8_t* p = begin;
  const uint64_t* const gear = gear_.data();
  // `len` counts the chunk's bytes before *p: the byte at p makes the chunk
  // len + 1 bytes long.
  uint64_t len = length_;
  uint64_t h = hash_;

  // Cut-point skipping: bytes that can neither end a chunk nor fall in the
  // 64-byte window of a byte that can are not hashed.
  if (len < hash_start_) {
    const uint64_t k = std::min<uint64_t>(end - p, hash_start_ - len);
    p += k;
    len += k;
  }
  // Fill the window: chunk lengths below min_size cannot end the chunk.
  if (p < end && len + 1 < min_) {
    const uint64_t k = std::min<uint64_t>(end - p, min_ - 1 - len);
    for (const uint8_t* stop = p + k; p < stop; ++p) h = (h << 1) + gear[*p];
    len += k;
  }
  // Lengths [min_size, avg_size): the strict limit.
  if (p < end && len + 1 < avg_) {
    const uint64_t k = std::min<uint64_t>(end - p, avg_ - 1 - len);
    const uint8_t* const stop = p + k;
    const uint64_t limit = strict_limit_;
    while (p < stop) {
      h = (h << 1) + gear[*p++];
      if (h < limit) [[unlikely]]
        goto cut;
    }
    len += k;
  }
  // Lengths [avg_size, max_size): the loose limit.
  if (p < end && len + 1 < max_) {
    const uint64_t k = std::min<uint64_t>(end - p, max_ - 1 - len);
    const uint8_t* const stop = p + k;
    const uint64_t limit = loose_limit_;
    while (p < stop) {
      h = (h << 1) + gear[*p++];
      if (h < limit) [[unlikely]]
        goto cut;
    }
    len += k;
  }
  // Length max_size: always a boundary.
  if (p < end) {
    ++p;
    goto cut;
  }
  length_ = len;
  hash_ = h;
  return 0;

cut:
  length_ = 0;
  hash_ = 0;
  return static_cast<size_t>(p - begin);
}

}  // namespace arca
