#include "libs/crypto/kdf.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "libs/base/bytes.h"

namespace arca {

void CryptoRandom(void* out, size_t n) {
  auto* p = static_cast<unsigned char*>(out);
  while (n > 0) {
    const int chunk = static_cast<int>(std::min<size_t>(n, 1u << 20));
    if (RAND_bytes(p, chunk) != 1) {
      std::fputs("arca: OpenSSL's random generator failed (RAND_bytes); cannot make keys or "
                 "nonces safely, stopping\n",
                 stderr);
      std::abort();
    }
    p += chunk;
    n -= chunk;
  }
}

Digest HmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  Digest d;
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(),
       d.bytes.data(), &len);
  return d;
}

Digest HmacSha256(std::span<const uint8_t> key, std::string_view data) {
  return HmacSha256(
      key, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

absl::Status CheckScryptParams(const ScryptParams& params) {
  if (params.n < 2 || params.n > (1u << 22) || (params.n & (params.n - 1)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("scrypt N = ", params.n, " is not a power of two in [2, 2^22]"));
  }
  if (params.r < 1 || params.r > 32) {
    return absl::InvalidArgumentError(absl::StrCat("scrypt r = ", params.r, " is not in [1, 32]"));
  }
  if (params.p < 1 || params.p > 16) {
    return absl::InvalidArgumentError(absl::StrCat("scrypt p = ", params.p, " is not in [1, 16]"));
  }
  if (128ull * params.n * params.r > (2ull << 30)) {
    return absl::InvalidArgumentError(absl::StrCat("scrypt N = ", params.n, ", r = ", params.r,
                                                   " needs more than 2 GiB of memory"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Scrypt(std::string_view password, std::string_view salt,
                                   const ScryptParams& params, size_t length) {
  if (absl::Status st = CheckScryptParams(params); !st.ok()) return st;
  std::string out(length, '\0');
  // maxmem: scrypt needs 128 * N * r * p bytes plus a little; allow 2 GiB + slack.
  const uint64_t maxmem = 128ull * params.n * params.r * (params.p + 1) + (64u << 20);
  if (EVP_PBE_scrypt(password.data(), password.size(),
                     reinterpret_cast<const unsigned char*>(salt.data()), salt.size(), params.n,
                     params.r, params.p, maxmem, reinterpret_cast<unsigned char*>(out.data()),
                     out.size()) != 1) {
    return absl::InternalError(absl::StrCat("scrypt (N = ", params.n, ", r = ", params.r,
                                            ", p = ", params.p,
                                            ") failed in OpenSSL: out of memory?"));
  }
  return out;
}

std::string ToHex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto b = static_cast<uint8_t>(bytes[i]);
    out[2 * i] = kHex[b >> 4];
    out[2 * i + 1] = kHex[b & 15];
  }
  return out;
}

absl::StatusOr<std::string> FromHex(std::string_view hex, std::string_view what) {
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(Av(what), " has an odd number of hex digits"));
  }
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = value(hex[2 * i]), lo = value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(absl::StrCat(Av(what), " has a character that is not hex"));
    }
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return out;
}

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace arca
