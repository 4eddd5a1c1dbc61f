#include "services/compressor/compressor_service.h"

#include <span>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/base/phase_status.h"
#include "libs/blob/blob.h"
#include "libs/codec/codec.h"
#include "libs/hash/digest.h"
#include "services/common/work_stream_reactor.h"

namespace arca::services {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// The digest of a chunk reference, or InvalidArgument.
absl::StatusOr<Digest> RefDigest(const v1::ChunkRef& ref, const char* what) {
  absl::StatusOr<Digest> digest = Digest::FromRaw(ref.digest());
  if (!digest.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": missing or malformed digest (", ref.digest().size(),
                     " bytes): set ref.digest to the chunk's 32-byte SHA-256"));
  }
  return digest;
}

absl::StatusOr<v1::Blob> CompressChunkUnphased(v1::CompressRequest request) {
  if (!request.has_chunk()) {
    return absl::InvalidArgumentError("compress request without a chunk: set `chunk`");
  }
  v1::RawChunk* chunk = request.mutable_chunk();
  absl::StatusOr<Digest> digest = RefDigest(chunk->ref(), "compress request");
  if (!digest.ok()) return digest.status();
  const std::string hex = digest->Hex();
  if (chunk->known()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "chunk ", hex, " is marked known (already stored): do not send it to the compressor"));
  }
  const std::string& data = chunk->data();
  if (data.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("chunk ", hex, ": data is empty"));
  }
  if (data.size() > kMaxBlobRawLength) {
    return absl::InvalidArgumentError(absl::StrCat("chunk ", hex, ": ", data.size(),
                                                   " bytes is more than the ", kMaxBlobRawLength,
                                                   "-byte limit of a chunk"));
  }
  if (chunk->ref().raw_length() != 0 && chunk->ref().raw_length() != data.size()) {
    return absl::InvalidArgumentError(absl::StrCat("chunk ", hex, ": ref.raw_length says ",
                                                   chunk->ref().raw_length(),
                                                   " bytes but the data holds ", data.size()));
  }
  const int codec_value = static_cast<int>(request.codec());
  if (codec_value != static_cast<int>(Codec::kNone) &&
      codec_value != static_cast<int>(Codec::kZstd) &&
      codec_value != static_cast<int>(Codec::kXz)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "chunk ", hex, ": ",
        request.codec() == v1::CODEC_UNSPECIFIED ? std::string("no codec given")
                                                 : absl::StrCat("unknown codec ", codec_value),
        ": use CODEC_ZSTD, CODEC_XZ or CODEC_NONE"));
  }
  const Codec codec = static_cast<Codec>(codec_value);
  if (absl::Status st = ValidateLevel(codec, request.level()); !st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("chunk ", hex, ": ", st.message()));
  }
  const Digest actual = Sha256(Bytes(data));
  if (actual != *digest) {
    return absl::DataLossError(absl::StrCat(
        "chunk ", hex, ": bytes do not match the digest (", data.size(), " bytes hash to ",
        actual.Hex(), "); the chunk was damaged before compression, resend it"));
  }
  absl::StatusOr<std::string> blob = EncodeBlob(Bytes(data), codec, request.level());
  if (!blob.ok()) {
    return absl::Status(blob.status().code(),
                        absl::StrCat("chunk ", hex, ": ", blob.status().message()));
  }
  v1::Blob out;
  out.set_stream(chunk->stream());
  *out.mutable_ref() = std::move(*chunk->mutable_ref());
  out.mutable_ref()->set_raw_length(data.size());
  chunk->clear_data();  // free the plaintext before the blob is queued
  out.set_data(*std::move(blob));
  return out;
}

}  // namespace

absl::StatusOr<v1::Blob> CompressChunk(v1::CompressRequest request) {
  absl::StatusOr<v1::Blob> out = CompressChunkUnphased(std::move(request));
  if (!out.ok()) return WithPhase(out.status(), v1::PHASE_COMPRESSION);
  return out;
}

absl::StatusOr<v1::RawChunk> DecompressBlob(v1::Blob blob) {
  absl::StatusOr<Digest> digest = RefDigest(blob.ref(), "decompress request");
  if (!digest.ok()) return digest.status();
  if (blob.data().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("blob ", digest->Hex(), ": data is empty: send the whole blob file"));
  }
  absl::StatusOr<std::string> raw = DecodeBlob(Bytes(blob.data()), *digest);
  if (!raw.ok()) return raw.status();  // DataLoss "blob <hex>: ..."
  if (blob.ref().raw_length() != 0 && blob.ref().raw_length() != raw->size()) {
    return absl::DataLossError(absl::StrCat("blob ", digest->Hex(), ": decodes to ", raw->size(),
                                            " bytes but ref.raw_length says ",
                                            blob.ref().raw_length()));
  }
  v1::RawChunk out;
  out.set_stream(blob.stream());
  *out.mutable_ref() = std::move(*blob.mutable_ref());
  out.mutable_ref()->set_raw_length(raw->size());
  blob.clear_data();
  out.set_data(*std::move(raw));
  return out;
}

CompressorService::CompressorService(CompressorOptions options)
    : pool_(options.threads),
      max_in_flight_(options.max_in_flight != 0 ? options.max_in_flight
                                                : 2 * static_cast<size_t>(pool_.threads())) {}

CompressorService::~CompressorService() = default;

grpc::ServerBidiReactor<v1::CompressRequest, v1::Blob>* CompressorService::Compress(
    grpc::CallbackServerContext* context) {
  return MakePoolBidiReactor<v1::CompressRequest, v1::Blob>(&pool_, max_in_flight_, &CompressChunk);
}

grpc::ServerBidiReactor<v1::Blob, v1::RawChunk>* CompressorService::Decompress(
    grpc::CallbackServerContext* context) {
  return MakePoolBidiReactor<v1::Blob, v1::RawChunk>(&pool_, max_in_flight_, &DecompressBlob);
}

}  // namespace arca::services
