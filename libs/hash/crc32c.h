// CRC32C (Castagnoli), hardware-accelerated with SSE4.2 when the CPU has it.
// Used by the blob format and the metadata stream records.
#ifndef ARCA_LIBS_HASH_CRC32C_H_
#define ARCA_LIBS_HASH_CRC32C_H_

#include <cstdint>
#include <span>
#include <string_view>

namespace arca {

// Extends `crc` (0 to start) with `data`. Crc32c("123456789") == 0xE3069283.
uint32_t Crc32cExtend(uint32_t crc, std::span<const uint8_t> data);

inline uint32_t Crc32c(std::span<const uint8_t> data) { return Crc32cExtend(0, data); }
inline uint32_t Crc32c(std::string_view data) {
  return Crc32c(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

}  // namespace arca

#endif  // ARCA_LIBS_HASH_CRC32C_H_
