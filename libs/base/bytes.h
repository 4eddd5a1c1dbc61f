// The bytes of a string as the std::span<const uint8_t> the codecs, blob and
// index decoders take, and std::string_view as abseil's string_view.
#ifndef ARCA_LIBS_BASE_BYTES_H_
#define ARCA_LIBS_BASE_BYTES_H_

#include <cstdint>
#include <span>
#include <string_view>

#include "absl/strings/string_view.h"

namespace arca {

// std::string_view as the absl::string_view abseil 20220623 takes (StrCat,
// StrSplit): here the two are different types.
inline absl::string_view Av(std::string_view s) { return {s.data(), s.size()}; }

// Fixed-width little-endian integers of the on-disk formats (`bytes` of 1..8).
inline void PutLittleEndian(uint8_t* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint64_t GetLittleEndian(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace arca

#endif  // ARCA_LIBS_BASE_BYTES_H_
