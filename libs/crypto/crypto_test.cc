#include <string>

#include "gtest/gtest.h"
#include "libs/crypto/aes_gcm.h"
#include "libs/crypto/kdf.h"
#include "libs/crypto/repository_key.h"

namespace arca {
namespace {

AesKey KeyOf(uint8_t b) {
  AesKey k;
  k.fill(b);
  return k;
}

TEST(AesGcmTest, SealOpenRoundTripAndFreshNonce) {
  std::string a, b;
  AesGcmSeal(KeyOf(1), "aad", "hello world", &a);
  AesGcmSeal(KeyOf(1), "aad", "hello world", &b);
  EXPECT_EQ(a.size(), 11 + kGcmOverhead);
  EXPECT_NE(a, b) << "two seals of the same plaintext must differ (random nonce)";
  EXPECT_EQ(a.find("hello"), std::string::npos);
  absl::StatusOr<std::string> plain = AesGcmOpen(KeyOf(1), "aad", a);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(*plain, "hello world");
}

TEST(AesGcmTest, EveryTamperingIsRefused) {
  std::string sealed;
  AesGcmSeal(KeyOf(2), "name-a", std::string(1000, 'x'), &sealed);
  EXPECT_EQ(AesGcmOpen(KeyOf(3), "name-a", sealed).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(AesGcmOpen(KeyOf(2), "name-b", sealed).status().code(), absl::StatusCode::kDataLoss);
  for (size_t at : {size_t{0}, size_t{12}, size_t{500}, sealed.size() - 1}) {
    std::string flipped = sealed;
    flipped[at] ^= 0x10;
    absl::StatusOr<std::string> r = AesGcmOpen(KeyOf(2), "name-a", flipped);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << "flip at " << at;
    EXPECT_NE(r.status().message().find("authentication failed"), std::string::npos);
  }
  EXPECT_EQ(AesGcmOpen(KeyOf(2), "name-a", sealed.substr(0, 27)).status().code(),
            absl::StatusCode::kDataLoss);
  absl::StatusOr<std::string> empty = AesGcmOpen(KeyOf(2), "", std::string());
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kDataLoss);
}

TEST(AesGcmTest, EmptyPlaintext) {
  std::string sealed;
  AesGcmSeal(KeyOf(4), "", "", &sealed);
  EXPECT_EQ(sealed.size(), kGcmOverhead);
  absl::StatusOr<std::string> plain = AesGcmOpen(KeyOf(4), "", sealed);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(*plain, "");
}

TEST(KdfTest, KnownAnswers) {
  // RFC 4231 test case 2.
  const std::string key = "Jefe";
  EXPECT_EQ(HmacSha256(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(key.data()),
                                                key.size()),
                       std::string_view("what do ya want for nothing?"))
                .Hex(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // RFC 7914 section 12, second vector.
  absl::StatusOr<std::string> out = Scrypt("password", "NaCl", {1024, 8, 16}, 64);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(ToHex(*out),
            "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
            "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640");
}

TEST(KdfTest, ScryptParamsBounded) {
  EXPECT_EQ(CheckScryptParams({3, 8, 1}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckScryptParams({1u << 23, 8, 1}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckScryptParams({1u << 20, 32, 1}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckScryptParams({1024, 0, 1}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckScryptParams({1024, 8, 17}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckScryptParams({1u << 15, 8, 1}).ok());
}

TEST(RepositoryKeyTest, IdsAreKeyedAndSeedDerived) {
  RepositoryKey a = RepositoryKey::Generate();
  RepositoryKey b = RepositoryKey::Generate();
  const std::string data = "some chunk";
  std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  EXPECT_NE(a.ChunkId(bytes), Sha256(bytes));
  EXPECT_NE(a.ChunkId(bytes), b.ChunkId(bytes));
  EXPECT_NE(a.ChunkerSeed(), 0u);
  EXPECT_NE(a.ChunkerSeed(), b.ChunkerSeed());
  absl::StatusOr<RepositoryKey> again = RepositoryKey::FromMaterial(a.Material());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ChunkId(bytes), a.ChunkId(bytes));
  EXPECT_EQ(again->fingerprint(), a.fingerprint());
  absl::StatusOr<RepositoryKey> ids = RepositoryKey::FromIdKey(a.IdKey());
  ASSERT_TRUE(ids.ok());
  EXPECT_FALSE(ids->has_data_key());
  EXPECT_EQ(ids->ChunkId(bytes), a.ChunkId(bytes));
  EXPECT_EQ(ids->ChunkerSeed(), a.ChunkerSeed());
  EXPECT_EQ(RepositoryKey::FromMaterial("short").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KeySlotTest, PasswordSlotOpensWithItsPasswordOnly) {
  RepositoryKey key = RepositoryKey::Generate();
  absl::StatusOr<v1::KeySlot> slot =
      MakePasswordSlot(key, "repo-1", "correct horse", {1024, 8, 1}, "laptop");
  ASSERT_TRUE(slot.ok()) << slot.status();
  EXPECT_EQ(slot->kind(), "password");
  EXPECT_EQ(slot->scrypt_n(), 1024u);
  EXPECT_EQ(slot->label(), "laptop");
  absl::StatusOr<RepositoryKey> opened = OpenPasswordSlot(*slot, "repo-1", "correct horse");
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->Material(), key.Material());

  absl::StatusOr<RepositoryKey> wrong = OpenPasswordSlot(*slot, "repo-1", "wrong horse");
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(wrong.status().message().find("does not open key slot " + slot->id()),
            std::string::npos);
  // Another repository's slot, or changed parameters, do not open.
  EXPECT_EQ(OpenPasswordSlot(*slot, "repo-2", "correct horse").status().code(),
            absl::StatusCode::kDataLoss);
  v1::KeySlot weakened = *slot;
  weakened.set_scrypt_n(2);
  EXPECT_EQ(OpenPasswordSlot(weakened, "repo-1", "correct horse").status().code(),
            absl::StatusCode::kPermissionDenied);
  v1::KeySlot hostile = *slot;
  hostile.set_scrypt_n(1ull << 40);
  EXPECT_EQ(OpenPasswordSlot(hostile, "repo-1", "correct horse").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(MakePasswordSlot(key, "repo-1", "", {1024, 8, 1}, "").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KeySlotTest, KeyFileRoundTrip) {
  RepositoryKey key = RepositoryKey::Generate();
  KeyFileSecret secret = GenerateKeyFileSecret();
  v1::KeySlot slot = MakeKeyFileSlot(key, "repo-1", secret, "uploader");
  EXPECT_EQ(slot.id(), secret.slot_id);
  const std::string text = FormatKeyFile(secret);
  absl::StatusOr<KeyFileSecret> parsed = ParseKeyFile(text, "/k");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  absl::StatusOr<RepositoryKey> opened = OpenKeyFileSlot(slot, "repo-1", *parsed);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->Material(), key.Material());

  KeyFileSecret other = GenerateKeyFileSecret();
  other.slot_id = secret.slot_id;
  EXPECT_EQ(OpenKeyFileSlot(slot, "repo-1", other).status().code(),
            absl::StatusCode::kPermissionDenied);
  absl::StatusOr<KeyFileSecret> bad = ParseKeyFile("arca-key-file-v1 zz 00", "/etc/k");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("/etc/k"), std::string::npos);
  EXPECT_EQ(ParseKeyFile("", "/k").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace arca
