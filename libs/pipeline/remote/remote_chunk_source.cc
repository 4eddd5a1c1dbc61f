#include "libs/pipeline/remote/remote_chunk_source.h"

#include <chrono>
#include <span>

#include "absl/strings/str_cat.h"
#include "arca/v1/compressor.grpc.pb.h"
#include "arca/v1/uploader.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "libs/base/phase_status.h"
#include "libs/blob/blob.h"
#include "libs/blob/sealed_blob.h"
#include "libs/hash/digest.h"
#include "libs/rpc/status_convert.h"

namespace arca {
namespace {

std::chrono::system_clock::time_point DeadlineIn(absl::Duration d) {
  return absl::ToChronoTime(absl::Now() + d);
}

}  // namespace

RemoteChunkSource::RemoteChunkSource(ReplicaSet* uploaders, ReplicaSet* compressors,
                                     CallRegistry* calls, RemoteChunkSourceOptions options)
    : uploaders_(uploaders), compressors_(compressors), calls_(calls), options_(options) {}

absl::Status RemoteChunkSource::Stopped() const {
  if (calls_ != nullptr && calls_->cancelled()) return calls_->status();
  return absl::OkStatus();
}

absl::StatusOr<v1::Blob> RemoteChunkSource::FetchBlob(const Digest& digest) {
  v1::Blob blob;
  absl::Status st = uploaders_->Run(
      [&](size_t i) -> absl::Status {
        auto stub = v1::Uploader::NewStub(uploaders_->channel(i));
        grpc::ClientContext ctx;
        ctx.set_deadline(DeadlineIn(options_.call_timeout));
        CallRegistry::Scoped reg(calls_, &ctx);
        v1::GetChunksRequest req;
        req.add_digests(std::string(digest.Raw()));
        std::unique_ptr<grpc::ClientReader<v1::Blob>> reader = stub->GetChunks(&ctx, req);
        bool got = reader->Read(&blob);
        if (got) {
          v1::Blob extra;
          while (reader->Read(&extra)) {
          }
        }
        absl::Status s = rpc::FromGrpcStatus(reader->Finish());
        if (!s.ok()) {
          if (s.code() == absl::StatusCode::kNotFound) {
            return absl::DataLossError(
                absl::StrCat("chunk ", digest.Hex(), " is missing from the repository (uploader ",
                             uploaders_->address(i), ": ", s.message(), "): run a verify job"));
          }
          return absl::Status(s.code(),
                              absl::StrCat("fetching chunk ", digest.Hex(), " from uploader ",
                                           uploaders_->address(i), ": ", s.message()));
        }
        if (!got || blob.ref().digest() != digest.Raw()) {
          return absl::DataLossError(absl::StrCat("uploader ", uploaders_->address(i),
                                                  " did not return chunk ", digest.Hex()));
        }
        return absl::OkStatus();
      },
      [this] { return Stopped(); });
  if (!st.ok()) return st;
  blobs_fetched_.fetch_add(1);
  blob_bytes_.fetch_add(blob.data().size());
  return blob;
}

absl::StatusOr<std::string> RemoteChunkSource::DecodeRemote(v1::Blob blob, const Digest& digest) {
  const bool keyed_ids = key_ != nullptr || blob.keyed_id();
  // The compressor cannot check a keyed id (it has no key): it checks the
  // frame and the length, this process the id.
  blob.set_keyed_id(keyed_ids);
  std::string raw;
  absl::Status st = compressors_->Run(
      [&](size_t i) -> absl::Status {
        auto stub = v1::Compressor::NewStub(compressors_->channel(i));
        grpc::ClientContext ctx;
        ctx.set_deadline(DeadlineIn(options_.call_timeout));
        CallRegistry::Scoped reg(calls_, &ctx);
        auto stream = stub->Decompress(&ctx);
        // The blob is kept for a retry on another replica.
        stream->WriteLast(blob, grpc::WriteOptions());
        v1::RawChunk chunk;
        bool got = stream->Read(&chunk);
        absl::Status s = rpc::FromGrpcStatus(stream->Finish());
        if (!s.ok()) {
          return absl::Status(s.code(),
                              absl::StrCat("decompressing chunk ", digest.Hex(), " on compressor ",
                                           compressors_->address(i), ": ", s.message()));
        }
        if (!got || chunk.ref().digest() != digest.Raw()) {
          return absl::DataLossError(absl::StrCat("compressor ", compressors_->address(i),
                                                  " did not return chunk ", digest.Hex()));
        }
        raw = std::move(*chunk.mutable_data());
        return absl::OkStatus();
      },
      [this] { return Stopped(); });
  if (!st.ok()) return st;
  // The compressor is not trusted with the content: its plaintext must hash
  // to the requested digest, as DecodeBlob checks in this process (with the
  // id key: the keyed id). A keyed blob without the key: the uploader's seal
  // check is all there is (see the header).
  if (keyed_ids && key_ == nullptr) return raw;
  if (const Digest actual = ChunkIdOf(
          std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(raw.data()), raw.size()), key_);
      actual != digest) {
    return WithPhase(
        absl::DataLossError(absl::StrCat(
            "chunk ", digest.Hex(), ": the compressor's Decompress answer did not match (",
            raw.size(), " bytes that hash to ", actual.Hex(),
            "); nothing of it was restored; the compressor is faulty or compromised: check or "
            "replace it, or restore without it; then run a verify job")),
        v1::PHASE_VERIFICATION);
  }
  return raw;
}

absl::StatusOr<std::shared_ptr<const std::string>> RemoteChunkSource::GetChunk(
    const Digest& digest, uint64_t expected_length) {
  absl::StatusOr<v1::Blob> blob = FetchBlob(digest);
  if (!blob.ok()) return blob.status();
  absl::StatusOr<std::string> raw;
  if (compressors_ != nullptr && compressors_->size() > 0) {
    raw = DecodeRemote(*std::move(blob), digest);
  } else {
    const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(blob->data().data()),
                                         blob->data().size());
    if (key_ != nullptr) {
      raw = DecodeOpenedChunkBlob(bytes, digest, key_);  // CRC32C, decompression, keyed id
    } else if (blob->keyed_id()) {
      raw = DecodeBlobUnnamed(bytes, digest);  // no key: the uploader checked the id
    } else {
      raw = DecodeBlob(bytes, digest);
    }
  }
  if (!raw.ok()) return raw.status();
  if (raw->size() != expected_length) {
    return absl::DataLossError(absl::StrCat("chunk ", digest.Hex(), " holds ", raw->size(),
                                            " bytes but the index says ", expected_length));
  }
  return std::make_shared<const std::string>(*std::move(raw));
}

}  // namespace arca
