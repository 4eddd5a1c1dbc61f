#include "services/compressor/compressor_service.h"

#include <atomic>
#include <span>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libs/base/phase_status.h"
#include "libs/blob/blob.h"
#include "libs/codec/codec.h"
#include "libs/hash/crc32c.h"
#include "libs/hash/digest.h"
#include "libs/metrics/registry.h"
#include "libs/metrics/service_metrics.h"
#include "services/common/work_stream_reactor.h"

namespace arca::services {
namespace {

using metrics::CompressorMetrics;

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
  const bool compute = request.compute_digest();
  const bool unnamed = request.caller_names_blob();
  // An encrypted repository's chunk: its id is keyed, which the compressor
  // can neither compute nor check (it holds no key).
  const bool keyed = request.keyed_id();
  if (keyed && compute) {
    return absl::InvalidArgumentError(
        "compress request with keyed_id and compute_digest: a keyed chunk id can only be "
        "computed by the chunker; send ref.digest or caller_names_blob");
  }
  if (static_cast<int>(compute) + static_cast<int>(unnamed) +
          static_cast<int>(!chunk->ref().digest().empty()) >
      1) {
    return absl::InvalidArgumentError(
        "compress request with more than one of ref.digest, compute_digest and "
        "caller_names_blob: send one of them");
  }
  // Without a digest to check (compute_digest, caller_names_blob or a keyed
  // id), the CRC32C of the data is checked instead.
  const bool crc_only = compute || unnamed || keyed;
  absl::StatusOr<Digest> digest = compute || unnamed ? absl::StatusOr<Digest>(Digest())
                                                     : RefDigest(chunk->ref(), "compress request");
  if (!digest.ok()) return digest.status();
  // Names the chunk in messages: its digest, or (not hashed yet) its size.
  const std::string hex = compute || unnamed
                              ? absl::StrCat("of ", chunk->data().size(), " bytes (no digest)")
                              : digest->Hex();
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
  if (crc_only) {
    const uint32_t crc = Crc32c(Bytes(data));
    if (crc != request.data_crc32c()) {
      return absl::DataLossError(absl::StrFormat(
          "chunk %s: CRC32C is 0x%08x but the request says 0x%08x; the chunk was damaged "
          "before compression, resend it",
          hex, crc, request.data_crc32c()));
    }
    if (compute) *digest = Sha256(Bytes(data));
  } else if (const Digest actual = Sha256(Bytes(data)); actual != *digest) {
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
  out.set_keyed_id(keyed);
  *out.mutable_ref() = std::move(*chunk->mutable_ref());
  out.mutable_ref()->set_raw_length(data.size());
  if (compute) out.mutable_ref()->set_digest(std::string(digest->Raw()));
  chunk->clear_data();  // free the plaintext before the blob is queued
  out.set_data(*std::move(blob));
  return out;
}

}  // namespace

CompressorMetrics& CompressorServiceMetrics() {
  // One catalog per process, on the process registry (never destroyed, like
  // the registry, so workers may count during static destruction).
  static CompressorMetrics* const metrics = new CompressorMetrics(*metrics::ProcessRegistry());
  return *metrics;
}

absl::StatusOr<v1::Blob> CompressChunk(v1::CompressRequest request) {
  CompressorMetrics& m = CompressorServiceMetrics();
  const v1::Codec codec = request.codec();
  const size_t raw_size = request.chunk().data().size();
  absl::StatusOr<v1::Blob> out = CompressChunkUnphased(std::move(request));
  if (!out.ok()) return WithPhase(out.status(), v1::PHASE_COMPRESSION);
  const CompressorMetrics::CodecSeries& series = m.Series(CompressorMetrics::Op::kCompress, codec);
  series.chunks.Increment();
  series.raw_bytes.Increment(static_cast<double>(raw_size));
  series.stored_bytes.Increment(static_cast<double>(out->data().size()));
  if (codec != v1::CODEC_NONE) {
    absl::StatusOr<BlobHeader> header = ParseBlobHeader(Bytes(out->data()));
    if (header.ok() && header->codec == Codec::kNone) m.Incompressible(codec).Increment();
  }
  return out;
}

namespace {

absl::StatusOr<v1::RawChunk> DecompressBlobUncounted(v1::Blob blob) {
  absl::StatusOr<Digest> digest = RefDigest(blob.ref(), "decompress request");
  if (!digest.ok()) return digest.status();
  if (blob.data().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("blob ", digest->Hex(), ": data is empty: send the whole blob file"));
  }
  // A keyed id (encrypted repository) cannot be checked here: frame, CRC32C,
  // decompression and length only; the caller (the chunker, which holds the
  // id key) checks the id of the plaintext.
  absl::StatusOr<std::string> raw = blob.keyed_id() ? DecodeBlobUnnamed(Bytes(blob.data()), *digest)
                                                    : DecodeBlob(Bytes(blob.data()), *digest);
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

}  // namespace

absl::StatusOr<v1::RawChunk> DecompressBlob(v1::Blob blob) {
  CompressorMetrics& m = CompressorServiceMetrics();
  const size_t stored_size = blob.data().size();
  // The blob's own codec (its header is checked again by DecodeBlob).
  absl::StatusOr<BlobHeader> header = ParseBlobHeader(Bytes(blob.data()));
  const v1::Codec codec =
      header.ok() ? static_cast<v1::Codec>(static_cast<int>(header->codec)) : v1::CODEC_NONE;
  absl::StatusOr<v1::RawChunk> out = DecompressBlobUncounted(std::move(blob));
  if (!out.ok()) return out;
  const CompressorMetrics::CodecSeries& series =
      m.Series(CompressorMetrics::Op::kDecompress, codec);
  series.chunks.Increment();
  series.raw_bytes.Increment(static_cast<double>(out->data().size()));
  series.stored_bytes.Increment(static_cast<double>(stored_size));
  return out;
}

namespace {

// errors_total of a failed Compress stream: its phase (compression, exit 11;
// 130 when cancelled).
void RecordCompressError(const absl::Status& status) {
  CompressorServiceMetrics().errors.Record(status, v1::PHASE_COMPRESSION);
}

// errors_total of a failed Decompress stream. No phase travels with its
// errors (the caller decides); the metric still needs one: corruption is
// exit 8 whether the caller restores or verifies (verification), anything
// else counts as a restore failure.
void RecordDecompressError(const absl::Status& status) {
  metrics::PhaseErrorCounters& errors = CompressorServiceMetrics().errors;
  if (status.code() == absl::StatusCode::kDataLoss) {
    errors.Record(v1::PHASE_VERIFICATION, 8);
  } else {
    errors.Record(status, v1::PHASE_RESTORE);
  }
}

// A pool stream that counts itself in arca_compressor_streams_running, its
// queue depth in arca_compressor_chunks_in_flight and its first failed chunk
// (the one that ends the stream) in arca_compressor_errors_total.
template <typename Req, typename Resp>
class CountedStream final : public BidiWorkReactor<Req, Resp> {
 public:
  using Fn = absl::StatusOr<Resp> (*)(Req);
  CountedStream(WorkerPool* pool, size_t max_in_flight, Fn fn,
                void (*record_error)(const absl::Status&))
      : BidiWorkReactor<Req, Resp>(max_in_flight),
        running_(CompressorServiceMetrics().streams_running),
        pool_(pool),
        fn_(fn),
        record_error_(record_error) {
    this->Begin();
  }

 private:
  void StartWork(uint64_t seq, Req request) override {
    pool_->Submit([this, seq, request = std::move(request)]() mutable {
      absl::StatusOr<Resp> result = fn_(std::move(request));
      if (!result.ok() && !error_counted_.exchange(true)) record_error_(result.status());
      this->Complete(seq, std::move(result));
    });
  }
  void DepthChanged(int64_t delta) override {
    CompressorServiceMetrics().chunks_in_flight.Increment(static_cast<double>(delta));
  }

  metrics::GaugeInFlight running_;
  WorkerPool* const pool_;
  const Fn fn_;
  void (*const record_error_)(const absl::Status&);
  std::atomic<bool> error_counted_{false};  // one error per stream
};

}  // namespace

CompressorService::CompressorService(CompressorOptions options)
    : pool_(options.threads),
      max_in_flight_(options.max_in_flight != 0 ? options.max_in_flight
                                                : 2 * static_cast<size_t>(pool_.threads())) {}

CompressorService::~CompressorService() = default;

grpc::ServerBidiReactor<v1::CompressRequest, v1::Blob>* CompressorService::Compress(
    grpc::CallbackServerContext* context) {
  return new CountedStream<v1::CompressRequest, v1::Blob>(&pool_, max_in_flight_, &CompressChunk,
                                                          &RecordCompressError);
}

grpc::ServerBidiReactor<v1::Blob, v1::RawChunk>* CompressorService::Decompress(
    grpc::CallbackServerContext* context) {
  return new CountedStream<v1::Blob, v1::RawChunk>(&pool_, max_in_flight_, &DecompressBlob,
                                                   &RecordDecompressError);
}

}  // namespace arca::services
