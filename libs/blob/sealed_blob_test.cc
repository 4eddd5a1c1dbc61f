#include "libs/blob/sealed_blob.h"

#include <string>

#include "gtest/gtest.h"
#include "libs/base/bytes.h"

namespace arca {
namespace {

std::string Text(size_t n) {
  std::string s;
  while (s.size() < n) s += "the quick brown fox jumps over the lazy dog; ";
  s.resize(n);
  return s;
}

TEST(SealedBlobTest, ChunkRoundTripHidesContentAndBindsName) {
  const RepositoryKey key = RepositoryKey::Generate();
  const std::string raw = Text(100000);
  const Digest id = ChunkIdOf(AsBytes(raw), &key);
  EXPECT_EQ(id, key.ChunkId(AsBytes(raw)));
  absl::StatusOr<std::string> blob = EncodeChunkBlob(AsBytes(raw), id, Codec::kZstd, 3, &key);
  ASSERT_TRUE(blob.ok()) << blob.status();
  EXPECT_TRUE(LooksSealed(AsBytes(*blob)));
  EXPECT_LT(blob->size(), raw.size() / 4) << "compressed before encryption";
  EXPECT_EQ(blob->find("quick brown"), std::string::npos);
  EXPECT_TRUE(CheckSealedChunkFrame(AsBytes(*blob), id).ok());

  absl::StatusOr<std::string> back = DecodeChunkBlob(AsBytes(*blob), id, &key);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, raw);

  // Stored under another id (a swapped blob): the tag does not authenticate.
  const Digest other = key.ChunkId(AsBytes(std::string("other")));
  absl::StatusOr<std::string> swapped = DecodeChunkBlob(AsBytes(*blob), other, &key);
  EXPECT_EQ(swapped.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(swapped.status().message().find("authentication failed"), std::string::npos);
  // The frame check without the key passes for it (it cannot know).
  EXPECT_TRUE(CheckSealedChunkFrame(AsBytes(*blob), other).ok());

  // Another key.
  const RepositoryKey stranger = RepositoryKey::Generate();
  EXPECT_EQ(DecodeChunkBlob(AsBytes(*blob), id, &stranger).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(SealedBlobTest, FlippedBitsAreDataLossWithAndWithoutKey) {
  const RepositoryKey key = RepositoryKey::Generate();
  const std::string raw = Text(5000);
  const Digest id = key.ChunkId(AsBytes(raw));
  const std::string blob = *EncodeChunkBlob(AsBytes(raw), id, Codec::kNone, 0, &key);
  for (size_t at = 0; at < blob.size(); at += 97) {
    std::string bad = blob;
    bad[at] ^= 0x01;
    EXPECT_EQ(DecodeChunkBlob(AsBytes(bad), id, &key).status().code(),
              absl::StatusCode::kDataLoss)
        << at;
    EXPECT_EQ(CheckSealedChunkFrame(AsBytes(bad), id).code(), absl::StatusCode::kDataLoss) << at;
  }
  // A flip with both CRCs fixed up is caught by the tag alone.
  EXPECT_EQ(DecodeChunkBlob(AsBytes(blob.substr(0, blob.size() - 1)), id, &key).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(SealedBlobTest, PlaintextRepositoryUsesFormat1) {
  const std::string raw = Text(3000);
  const Digest id = ChunkIdOf(AsBytes(raw), nullptr);
  EXPECT_EQ(id, Sha256(AsBytes(raw)));
  absl::StatusOr<std::string> blob = EncodeChunkBlob(AsBytes(raw), id, Codec::kZstd, 3, nullptr);
  ASSERT_TRUE(blob.ok());
  EXPECT_FALSE(LooksSealed(AsBytes(*blob)));
  EXPECT_EQ(CheckSealedChunkFrame(AsBytes(*blob), id).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(*DecodeChunkBlob(AsBytes(*blob), id, nullptr), raw);
  // A plaintext blob in an encrypted repository is refused.
  const RepositoryKey key = RepositoryKey::Generate();
  absl::StatusOr<std::string> r = DecodeChunkBlob(AsBytes(*blob), id, &key);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("not an encrypted blob"), std::string::npos);
  // And the format 1 reader names a sealed blob.
  const std::string sealed = *EncodeChunkBlob(AsBytes(raw), key.ChunkId(AsBytes(raw)),
                                              Codec::kZstd, 3, &key);
  absl::StatusOr<std::string> old = DecodeBlob(AsBytes(sealed), id);
  EXPECT_NE(old.status().message().find("encrypted blob"), std::string::npos);
}

TEST(SealedBlobTest, IdOnlyKeyChecksOpenedBlobs) {
  const RepositoryKey key = RepositoryKey::Generate();
  const RepositoryKey ids = *RepositoryKey::FromIdKey(key.IdKey());
  const std::string raw = Text(7000);
  const Digest id = key.ChunkId(AsBytes(raw));
  const std::string sealed = *EncodeChunkBlob(AsBytes(raw), id, Codec::kZstd, 3, &key);
  absl::StatusOr<std::string> inner = OpenChunkBlob(AsBytes(sealed), id, &key);
  ASSERT_TRUE(inner.ok()) << inner.status();
  EXPECT_EQ(*DecodeOpenedChunkBlob(AsBytes(*inner), id, &ids), raw);
  EXPECT_EQ(DecodeOpenedChunkBlob(AsBytes(*inner), Sha256(AsBytes(raw)), &ids).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(OpenChunkBlob(AsBytes(sealed), id, &ids).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(SealedBlobTest, SnapshotFilesBindKindAndName) {
  const RepositoryKey key = RepositoryKey::Generate();
  const std::string sealed =
      SealBlob(key, SealedKind::kManifest, "snapshots/g/t1/manifest.json", "{\"id\":1}");
  absl::StatusOr<std::string> ok = OpenSealedBlob(key, SealedKind::kManifest,
                                                  "snapshots/g/t1/manifest.json",
                                                  AsBytes(sealed), "manifest");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, "{\"id\":1}");
  // Replayed into another snapshot: refused.
  EXPECT_EQ(OpenSealedBlob(key, SealedKind::kManifest, "snapshots/g/t2/manifest.json",
                           AsBytes(sealed), "manifest")
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
  // As another kind: refused.
  EXPECT_EQ(OpenSealedBlob(key, SealedKind::kPayloadIndex, "snapshots/g/t1/manifest.json",
                           AsBytes(sealed), "index")
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(*CheckSealedFrame(AsBytes(sealed), "x"), SealedKind::kManifest);
}

}  // namespace
}  // namespace arca
