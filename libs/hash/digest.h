// SHA-256 digests (chunk ids) via OpenSSL EVP.
//
// Thread-safety: free functions are thread-safe; a Sha256Hasher is not.
#ifndef ARCA_LIBS_HASH_DIGEST_H_
#define ARCA_LIBS_HASH_DIGEST_H_

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace arca {

// A SHA-256 digest: a chunk's id is the digest of its plaintext.
struct Digest {
  std::array<uint8_t, 32> bytes{};

  // 64 lower-case hex characters.
  std::string Hex() const;
  // The 32 raw bytes as a string (for protos and maps).
  std::string_view Raw() const {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  }
  // Parses 64 hex characters. InvalidArgument names the bad text.
  static absl::StatusOr<Digest> FromHex(absl::string_view hex);
  // Takes exactly 32 raw bytes. InvalidArgument otherwise.
  static absl::StatusOr<Digest> FromRaw(absl::string_view raw);

  friend bool operator==(const Digest&, const Digest&) = default;
  friend auto operator<=>(const Digest&, const Digest&) = default;

  template <typename H>
  friend H AbslHashValue(H h, const Digest& d) {
    // The digest is uniformly distributed: its first 8 bytes are a hash.
    uint64_t v;
    __builtin_memcpy(&v, d.bytes.data(), sizeof(v));
    return H::combine(std::move(h), v);
  }
};

// SHA-256 of `data`.
Digest Sha256(std::span<const uint8_t> data);
inline Digest Sha256(std::string_view data) {
  return Sha256(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

// Incremental SHA-256.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void Update(std::span<const uint8_t> data);
  void Update(std::string_view data) {
    Update(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  }
  // Returns the digest and resets the hasher for reuse.
  Digest Finish();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

}  // namespace arca

#endif  // ARCA_LIBS_HASH_DIGEST_H_
