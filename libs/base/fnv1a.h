// FNV-1a, 64 bits: a small hash that is the same in every process and
// build (absl::Hash is not), for names and tokens that must stay stable
// (lock temp names, page tokens). Not for security.
#ifndef ARCA_LIBS_BASE_FNV1A_H_
#define ARCA_LIBS_BASE_FNV1A_H_

#include <cstdint>
#include <string_view>

namespace arca {

inline constexpr uint64_t kFnv1a64Offset = 14695981039346656037ull;

// The hash of `s`, continuing from `h` (the offset basis for a new hash), so
// that several pieces can be hashed in turn.
inline uint64_t Fnv1a64(std::string_view s, uint64_t h = kFnv1a64Offset) {
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace arca

#endif  // ARCA_LIBS_BASE_FNV1A_H_
