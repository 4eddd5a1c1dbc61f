#include "libs/crypto/repository_key.h"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "libs/base/bytes.h"

namespace arca {
namespace {

constexpr size_t kSaltSize = 32;
constexpr size_t kWrappedSize = kGcmNonceSize + RepositoryKey::kMaterialSize + kGcmTagSize;

std::string_view SV(const AesKey& k) {
  return {reinterpret_cast<const char*>(k.data()), k.size()};
}

int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::string RandomHexId() {
  char raw[8];
  CryptoRandom(raw, sizeof(raw));
  return ToHex(std::string_view(raw, sizeof(raw)));
}

// Binds the wrapped key to its slot: another repository's slot, or a slot
// whose kind or parameters were changed, does not open.
std::string WrapAad(const v1::KeySlot& slot) {
  return absl::StrCat("arca key slot v1", std::string(1, '\0'), slot.repository_id(), "/",
                      slot.id(), "/", slot.kind(), "/", slot.kdf(), "/", slot.scrypt_n(), "/",
                      slot.scrypt_r(), "/", slot.scrypt_p());
}

AesKey ToAesKey(std::string_view bytes) {
  AesKey k{};
  std::memcpy(k.data(), bytes.data(), std::min(bytes.size(), k.size()));
  return k;
}

absl::StatusOr<v1::KeySlot> Wrap(const RepositoryKey& key, v1::KeySlot slot, const AesKey& kek) {
  std::string wrapped;
  AesGcmSeal(kek, WrapAad(slot), key.Material(), &wrapped);
  slot.set_wrapped_key(ToHex(wrapped));
  return slot;
}

absl::StatusOr<RepositoryKey> Unwrap(const v1::KeySlot& slot, const AesKey& kek,
                                     std::string_view what) {
  absl::StatusOr<std::string> wrapped = FromHex(slot.wrapped_key(), "wrapped_key");
  if (!wrapped.ok()) {
    return absl::DataLossError(
        absl::StrCat("key slot ", slot.id(), " is corrupt: ", wrapped.status().message()));
  }
  absl::StatusOr<std::string> material = AesGcmOpen(kek, WrapAad(slot), *wrapped);
  if (!material.ok()) {
    return absl::PermissionDeniedError(absl::StrCat(Av(what), " does not open key slot ", slot.id()));
  }
  return RepositoryKey::FromMaterial(*material);
}

v1::KeySlot NewSlot(std::string_view id, std::string_view repository_id, std::string_view kind,
                    std::string_view kdf, std::string_view label) {
  v1::KeySlot slot;
  slot.set_format_version(1);
  slot.set_id(std::string(id));
  slot.set_kind(std::string(kind));
  slot.set_kdf(std::string(kdf));
  slot.set_label(std::string(label));
  slot.set_created_unix_ns(NowNs());
  slot.set_repository_id(std::string(repository_id));
  char salt[kSaltSize];
  CryptoRandom(salt, sizeof(salt));
  slot.set_salt(ToHex(std::string_view(salt, sizeof(salt))));
  return slot;
}

bool IsHexId(std::string_view id) {
  if (id.size() != 16) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

RepositoryKey RepositoryKey::Generate() {
  RepositoryKey key;
  CryptoRandom(key.data_key_.data(), key.data_key_.size());
  CryptoRandom(key.id_key_.data(), key.id_key_.size());
  key.Derive();
  return key;
}

absl::StatusOr<RepositoryKey> RepositoryKey::FromMaterial(std::string_view material) {
  if (material.size() != kMaterialSize) {
    return absl::InvalidArgumentError(absl::StrCat("a master key has ", kMaterialSize,
                                                   " bytes, not ", material.size()));
  }
  RepositoryKey key;
  key.data_key_ = ToAesKey(material.substr(0, 32));
  key.id_key_ = ToAesKey(material.substr(32, 32));
  key.Derive();
  return key;
}

absl::StatusOr<RepositoryKey> RepositoryKey::FromIdKey(std::string_view id_key) {
  if (id_key.size() != 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("a chunk id key has 32 bytes, not ", id_key.size()));
  }
  RepositoryKey key;
  key.id_key_ = ToAesKey(id_key);
  key.has_data_key_ = false;
  key.Derive();
  return key;
}

void RepositoryKey::Derive() {
  const Digest seed = HmacSha256(id_key_, std::string_view("arca chunker seed v1"));
  std::memcpy(&chunker_seed_, seed.bytes.data(), sizeof(chunker_seed_));
  if (chunker_seed_ == 0) chunker_seed_ = 1;
  const Digest fp = HmacSha256(id_key_, std::string_view("arca key fingerprint v1"));
  fingerprint_ = fp.Hex().substr(0, 16);
}

Digest RepositoryKey::ChunkId(std::span<const uint8_t> data) const {
  return HmacSha256(id_key_, data);
}

std::string RepositoryKey::Material() const {
  return absl::StrCat(Av(SV(data_key_)), Av(SV(id_key_)));
}

std::string RepositoryKey::IdKey() const { return std::string(SV(id_key_)); }

KeyFileSecret GenerateKeyFileSecret() {
  KeyFileSecret s;
  s.slot_id = RandomHexId();
  s.secret.resize(32);
  CryptoRandom(s.secret.data(), s.secret.size());
  return s;
}

std::string FormatKeyFile(const KeyFileSecret& secret) {
  return absl::StrCat("arca-key-file-v1 ", secret.slot_id, " ", ToHex(secret.secret), "\n");
}

absl::StatusOr<KeyFileSecret> ParseKeyFile(std::string_view text, std::string_view path) {
  std::vector<absl::string_view> parts =
      absl::StrSplit(absl::StripAsciiWhitespace(Av(text)), ' ', absl::SkipEmpty());
  auto bad = [&](std::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("key file ", Av(path), " is not an arca key file (", Av(what),
                     "): expected one line 'arca-key-file-v1 <slot id> <secret>' as written by "
                     "`arca key add --new-key-file`"));
  };
  if (parts.size() != 3) return bad(absl::StrCat(parts.size(), " fields instead of 3"));
  if (parts[0] != "arca-key-file-v1") return bad("unknown first word");
  if (!IsHexId(std::string_view(parts[1].data(), parts[1].size()))) return bad("the slot id is not 16 lower-case hex digits");
  absl::StatusOr<std::string> secret = FromHex(std::string_view(parts[2].data(), parts[2].size()), "the secret");
  if (!secret.ok() || secret->size() != 32) return bad("the secret is not 64 hex digits");
  return KeyFileSecret{std::string(parts[1]), *std::move(secret)};
}

absl::StatusOr<std::string> ReadSecretFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    const std::string msg =
        absl::StrCat("cannot read ", Av(what), " ", path, ": ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(msg) : absl::PermissionDeniedError(msg);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (text.size() > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat(Av(what), " ", path, " is larger than 4 KiB: not a secret file"));
  }
  return text;
}

absl::StatusOr<KeyFileSecret> ReadKeyFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadSecretFile(path, "key file");
  if (!text.ok()) return text.status();
  return ParseKeyFile(*text, path);
}

absl::StatusOr<v1::KeySlot> MakePasswordSlot(const RepositoryKey& key,
                                             std::string_view repository_id,
                                             std::string_view password, const ScryptParams& params,
                                             std::string_view label) {
  if (password.empty()) return absl::InvalidArgumentError("the password is empty");
  if (absl::Status st = CheckScryptParams(params); !st.ok()) return st;
  v1::KeySlot slot = NewSlot(RandomHexId(), repository_id, kKeySlotPassword, "scrypt", label);
  slot.set_scrypt_n(params.n);
  slot.set_scrypt_r(params.r);
  slot.set_scrypt_p(params.p);
  absl::StatusOr<std::string> salt = FromHex(slot.salt(), "salt");
  absl::StatusOr<std::string> kek = Scrypt(password, *salt, params, kAesKeySize);
  if (!kek.ok()) return kek.status();
  return Wrap(key, std::move(slot), ToAesKey(*kek));
}

v1::KeySlot MakeKeyFileSlot(const RepositoryKey& key, std::string_view repository_id,
                            const KeyFileSecret& secret, std::string_view label) {
  v1::KeySlot slot = NewSlot(secret.slot_id, repository_id, kKeySlotKeyFile, "hmac-sha256", label);
  absl::StatusOr<std::string> salt = FromHex(slot.salt(), "salt");
  const Digest kek = HmacSha256(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(secret.secret.data()),
                               secret.secret.size()),
      *salt);
  return *Wrap(key, std::move(slot), kek.bytes);
}

absl::Status CheckKeySlot(const v1::KeySlot& slot, std::string_view repository_id) {
  auto corrupt = [&](std::string_view what) {
    return absl::DataLossError(absl::StrCat("key slot ", slot.id().substr(0, 40), " is corrupt (",
                                            Av(what), ")"));
  };
  if (slot.format_version() != 1) {
    return corrupt(absl::StrCat("format version ", slot.format_version(), ", expected 1"));
  }
  if (!IsHexId(slot.id())) return corrupt("its id is not 16 lower-case hex digits");
  if (slot.repository_id() != repository_id) return corrupt("it belongs to another repository");
  if (slot.kind() == kKeySlotPassword) {
    if (slot.kdf() != "scrypt") return corrupt("a password slot must use scrypt");
    ScryptParams p{slot.scrypt_n(), slot.scrypt_r(), slot.scrypt_p()};
    if (absl::Status st = CheckScryptParams(p); !st.ok()) {
      return corrupt(std::string(st.message()));
    }
  } else if (slot.kind() == kKeySlotKeyFile) {
    if (slot.kdf() != "hmac-sha256") return corrupt("a key-file slot must use hmac-sha256");
  } else {
    return corrupt(absl::StrCat("unknown kind '", slot.kind().substr(0, 40), "'"));
  }
  absl::StatusOr<std::string> salt = FromHex(slot.salt(), "salt");
  if (!salt.ok() || salt->size() != kSaltSize) return corrupt("the salt is not 32 bytes of hex");
  if (slot.wrapped_key().size() != 2 * kWrappedSize) {
    return corrupt(absl::StrCat("the wrapped key is not ", kWrappedSize, " bytes of hex"));
  }
  return absl::OkStatus();
}

absl::StatusOr<RepositoryKey> OpenPasswordSlot(const v1::KeySlot& slot,
                                               std::string_view repository_id,
                                               std::string_view password) {
  if (absl::Status st = CheckKeySlot(slot, repository_id); !st.ok()) return st;
  if (slot.kind() != kKeySlotPassword) {
    return absl::PermissionDeniedError(
        absl::StrCat("key slot ", slot.id(), " is a key-file slot, not a password slot"));
  }
  ScryptParams p{slot.scrypt_n(), slot.scrypt_r(), slot.scrypt_p()};
  absl::StatusOr<std::string> kek = Scrypt(password, *FromHex(slot.salt(), "salt"), p, kAesKeySize);
  if (!kek.ok()) return kek.status();
  return Unwrap(slot, ToAesKey(*kek), "the password");
}

absl::StatusOr<RepositoryKey> OpenKeyFileSlot(const v1::KeySlot& slot,
                                              std::string_view repository_id,
                                              const KeyFileSecret& secret) {
  if (absl::Status st = CheckKeySlot(slot, repository_id); !st.ok()) return st;
  if (slot.kind() != kKeySlotKeyFile || slot.id() != secret.slot_id) {
    return absl::PermissionDeniedError(
        absl::StrCat("the key file is for slot ", secret.slot_id, ", not ", slot.id()));
  }
  const Digest kek = HmacSha256(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(secret.secret.data()),
                               secret.secret.size()),
      *FromHex(slot.salt(), "salt"));
  return Unwrap(slot, kek.bytes, "the key file");
}

}  // namespace arca
