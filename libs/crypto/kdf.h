// Key derivation and keyed hashing (OpenSSL): HMAC-SHA-256, scrypt, and the
// random generator every key and nonce comes from.
//
// Thread-safety: thread-safe.
#ifndef ARCA_LIBS_CRYPTO_KDF_H_
#define ARCA_LIBS_CRYPTO_KDF_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "libs/hash/digest.h"

namespace arca {

// Fills `out` with `n` bytes from OpenSSL's CSPRNG (RAND_bytes, seeded by
// the kernel). Aborts the process if the generator fails: there is no safe
// way to go on without randomness for keys and nonces.
void CryptoRandom(void* out, size_t n);

// HMAC-SHA-256 of `data` under `key`.
Digest HmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> data);
Digest HmacSha256(std::span<const uint8_t> key, std::string_view data);

// scrypt parameters (RFC 7914). The defaults cost about 32 MiB and 0.1 s.
struct ScryptParams {
  uint64_t n = 1u << 15;  // CPU/memory cost, a power of two > 1
  uint32_t r = 8;         // block size
  uint32_t p = 1;         // parallelism
};

// Bounds that keep a hostile key slot from exhausting memory or time:
// 2 <= n <= 2^22, n a power of two, 1 <= r <= 32, 1 <= p <= 16, and
// 128 * n * r <= 2 GiB. InvalidArgument naming the parameter otherwise.
absl::Status CheckScryptParams(const ScryptParams& params);

// scrypt(password, salt) -> `length` bytes. InvalidArgument for parameters
// outside CheckScryptParams; Internal if OpenSSL fails (out of memory).
absl::StatusOr<std::string> Scrypt(std::string_view password, std::string_view salt,
                                   const ScryptParams& params, size_t length);

// Lower-case hex of `bytes`, and back (InvalidArgument naming `what`).
std::string ToHex(std::string_view bytes);
absl::StatusOr<std::string> FromHex(std::string_view hex, std::string_view what);

// Compares in time independent of where the strings differ.
bool ConstantTimeEqual(std::string_view a, std::string_view b);

}  // namespace arca

#endif  // ARCA_LIBS_CRYPTO_KDF_H_
