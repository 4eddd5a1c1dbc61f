// The bytes of a string as the std::span<const uint8_t> the codecs, blob and
// index decoders take.
#ifndef ARCA_LIBS_BASE_BYTES_H_
#define ARCA_LIBS_BASE_BYTES_H_

#include <cstdint>
#include <span>
#include <string_view>

namespace arca {

inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace arca

#endif  // ARCA_LIBS_BASE_BYTES_H_
