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

inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace arca

#endif  // ARCA_LIBS_BASE_BYTES_H_
