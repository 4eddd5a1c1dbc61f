// The master key of an encrypted repository and the key slots that wrap it
// (docs/formats/encryption.md).
//
// The master key is 64 random bytes: a 32-byte AES-256 data key that seals
// every blob, and a 32-byte id key: chunk ids are HMAC-SHA-256(id key,
// chunk), and the chunker's gear table is seeded from it, so neither stored
// names nor chunk boundaries fingerprint known files.
//
// A key slot (v1::KeySlot, stored as REPO/keys/<id>) holds the master key
// sealed with AES-256-GCM under a key-encryption key derived from
//   - a password: scrypt(password, salt, N, r, p), parameters in the slot;
//   - a key file's 32-byte random secret: HMAC-SHA-256(secret, salt).
//
// Thread-safety: a RepositoryKey is immutable after construction and safe
// to share between threads.
#ifndef ARCA_LIBS_CRYPTO_REPOSITORY_KEY_H_
#define ARCA_LIBS_CRYPTO_REPOSITORY_KEY_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "arca/v1/repository.pb.h"
#include "libs/crypto/aes_gcm.h"
#include "libs/crypto/kdf.h"
#include "libs/hash/digest.h"

namespace arca {

inline constexpr char kEncryptionAes256Gcm[] = "aes-256-gcm";
inline constexpr char kKeySlotPassword[] = "password";
inline constexpr char kKeySlotKeyFile[] = "key-file";

class RepositoryKey {
 public:
  static constexpr size_t kMaterialSize = 64;

  // A new random master key (CryptoRandom).
  static RepositoryKey Generate();
  // From the 64 bytes Material() returned. InvalidArgument for another size.
  static absl::StatusOr<RepositoryKey> FromMaterial(std::string_view material);

  // The id of a chunk: HMAC-SHA-256(id key, data).
  Digest ChunkId(std::span<const uint8_t> data) const;
  // Seeds the chunker's gear table (never 0, which selects the built-in one).
  uint64_t ChunkerSeed() const { return chunker_seed_; }
  // The AES-256-GCM key that seals every blob.
  const AesKey& data_key() const { return data_key_; }
  // 16 hex digits that name this master key in messages (an HMAC of a
  // constant: reveals nothing about the key).
  const std::string& fingerprint() const { return fingerprint_; }
  // The 64 bytes to wrap into a key slot. Secret: never log it.
  std::string Material() const;

  // The id key alone, for a role that names chunks but must not open blobs
  // (the distributed chunker): a RepositoryKey whose data_key is all zero
  // and has_data_key() false.
  static absl::StatusOr<RepositoryKey> FromIdKey(std::string_view id_key);
  std::string IdKey() const;
  bool has_data_key() const { return has_data_key_; }

 private:
  RepositoryKey() = default;
  void Derive();

  AesKey data_key_{};
  AesKey id_key_{};
  bool has_data_key_ = true;
  uint64_t chunker_seed_ = 0;
  std::string fingerprint_;
};

// A key file for services and scripts: one line
//   arca-key-file-v1 <slot id: 16 hex> <secret: 64 hex>
// It unlocks exactly the slot it names.
struct KeyFileSecret {
  std::string slot_id;
  std::string secret;  // 32 raw bytes
};
// A new random secret for a new slot id.
KeyFileSecret GenerateKeyFileSecret();
std::string FormatKeyFile(const KeyFileSecret& secret);
// InvalidArgument naming `path` and what is wrong (no secret bytes in it).
absl::StatusOr<KeyFileSecret> ParseKeyFile(std::string_view text, std::string_view path);

// The whole of a small secret file (a key file or a password file; `what`
// names it in messages). NotFound / PermissionDenied "cannot read WHAT
// PATH: ..."; InvalidArgument when it is larger than 4 KiB.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path, std::string_view what);

// ReadSecretFile + ParseKeyFile: the key file at `path`.
absl::StatusOr<KeyFileSecret> ReadKeyFile(const std::string& path);

// A new slot of `repository_id` holding `key`, unlocked by `password`
// (scrypt with `params`). InvalidArgument for an empty password or bad
// parameters.
absl::StatusOr<v1::KeySlot> MakePasswordSlot(const RepositoryKey& key,
                                             std::string_view repository_id,
                                             std::string_view password, const ScryptParams& params,
                                             std::string_view label);
// A new slot holding `key`, unlocked by the key file `secret` (its slot id
// becomes the slot's id).
v1::KeySlot MakeKeyFileSlot(const RepositoryKey& key, std::string_view repository_id,
                            const KeyFileSecret& secret, std::string_view label);

// Unwraps `slot` (of the repository `repository_id`) with a password or a
// key file secret, per the slot's kind.
// Errors: DataLoss "key slot <id> is corrupt: ..." for a malformed slot
// (bad hex, sizes, parameters, another repository's slot);
// PermissionDenied "... does not open key slot <id>" when the secret is
// wrong (or the slot was modified).
absl::StatusOr<RepositoryKey> OpenPasswordSlot(const v1::KeySlot& slot,
                                               std::string_view repository_id,
                                               std::string_view password);
absl::StatusOr<RepositoryKey> OpenKeyFileSlot(const v1::KeySlot& slot,
                                              std::string_view repository_id,
                                              const KeyFileSecret& secret);

// A slot's own fields are well formed (format version, id, kind, kdf and
// its parameters, salt and wrapped key sizes, repository id); DataLoss
// naming the slot otherwise.
absl::Status CheckKeySlot(const v1::KeySlot& slot, std::string_view repository_id);

}  // namespace arca

#endif  // ARCA_LIBS_CRYPTO_REPOSITORY_KEY_H_
