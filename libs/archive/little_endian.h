// Fixed-width little-endian integers for arca's on-disk formats (private to
// //libs/archive). Loads take a pointer to at least 4 / 8 readable bytes.
#ifndef ARCA_LIBS_ARCHIVE_LITTLE_ENDIAN_H_
#define ARCA_LIBS_ARCHIVE_LITTLE_ENDIAN_H_

#include <cstdint>
#include <string>

namespace arca::internal_le {

inline void StoreU32(uint32_t v, char* p) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline void StoreU64(uint64_t v, char* p) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline void AppendU32(std::string* out, uint32_t v) {
  char b[4];
  StoreU32(v, b);
  out->append(b, 4);
}
inline void AppendU64(std::string* out, uint64_t v) {
  char b[8];
  StoreU64(v, b);
  out->append(b, 8);
}
inline uint32_t LoadU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
inline uint64_t LoadU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace arca::internal_le

#endif  // ARCA_LIBS_ARCHIVE_LITTLE_ENDIAN_H_
