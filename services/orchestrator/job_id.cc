#include "services/orchestrator/job_id.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "libs/base/random_bytes.h"

namespace arca::services {
namespace {

constexpr char kCrockford[] = "0123456789abcdefghjkmnpqrstvwxyz";

}  // namespace

std::string NewJobId(absl::Time now) {
  // 128 bits: 48 of time (ms), 80 random; 26 base32 digits hold 130 bits,
  // the top two are zero.
  uint8_t bytes[16];
  const uint64_t ms = static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixMillis(now)));
  for (int i = 0; i < 6; ++i) bytes[i] = static_cast<uint8_t>(ms >> (8 * (5 - i)));
  FillRandom(bytes + 6, 10);
  std::string out(kJobIdPrefix);
  out.reserve(out.size() + 26);
  // Bit b (0 = most significant of the 130-bit number whose low 128 bits are
  // `bytes`).
  for (int digit = 0; digit < 26; ++digit) {
    int value = 0;
    for (int k = 0; k < 5; ++k) {
      const int bit = digit * 5 + k - 2;  // position in the 128 bits
      int b = 0;
      if (bit >= 0) b = (bytes[bit / 8] >> (7 - bit % 8)) & 1;
      value = value << 1 | b;
    }
    out.push_back(kCrockford[value]);
  }
  return out;
}

bool IsJobIdShape(std::string_view id) {
  if (id.size() <= kJobIdPrefixSize || id.size() > 64 ||
      id.substr(0, kJobIdPrefixSize) != kJobIdPrefix) {
    return false;
  }
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

}  // namespace arca::services
