// AES-256-GCM (OpenSSL EVP): authenticated encryption of one message with a
// fresh random 96-bit nonce. The sealed form is nonce (12) || ciphertext
// (same length as the plaintext) || tag (16).
//
// Thread-safety: the functions are thread-safe (one EVP context per call).
#ifndef ARCA_LIBS_CRYPTO_AES_GCM_H_
#define ARCA_LIBS_CRYPTO_AES_GCM_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace arca {

inline constexpr size_t kAesKeySize = 32;
inline constexpr size_t kGcmNonceSize = 12;
inline constexpr size_t kGcmTagSize = 16;
inline constexpr size_t kGcmOverhead = kGcmNonceSize + kGcmTagSize;

using AesKey = std::array<uint8_t, kAesKeySize>;

// Appends nonce || AES-256-GCM(key, nonce, aad, plaintext) || tag to `out`.
// The nonce comes from CryptoRandom (OpenSSL RAND_bytes).
void AesGcmSeal(const AesKey& key, std::string_view aad, std::string_view plaintext,
                std::string* out);

// The plaintext of `sealed` (nonce || ciphertext || tag) if the tag
// authenticates it together with `aad` under `key`.
// Errors: DataLoss "shorter than ..." or "authentication failed" (wrong key,
// modified bytes or a different aad): the caller adds what it was opening.
absl::StatusOr<std::string> AesGcmOpen(const AesKey& key, std::string_view aad,
                                       std::string_view sealed);

}  // namespace arca

#endif  // ARCA_LIBS_CRYPTO_AES_GCM_H_
