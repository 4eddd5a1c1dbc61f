// The Compressor service (protos/arca/v1/compressor.proto): chunks to blobs
// (libs/blob EncodeBlob) and blobs back to chunks (DecodeBlob). Thin: it
// validates and converts protos, runs libs/ on a worker pool and maps the
// status.
//
// Streams: responses come in request order; each stream keeps at most
// max_in_flight chunks being compressed or waiting to be written, and reads
// no further request until one is written (backpressure). The first bad
// request ends the stream with its error; the server stays up.
//
// Compress names a blob in one of three ways (compressor.proto): by the
// request's ref.digest (checked: SHA-256 of the data), by compute_digest
// (the compressor hashes; CRC32C checked) or not at all with
// caller_names_blob (no SHA-256 here; CRC32C checked; the caller, which
// trusts no peer's digest, names the blob). A digest the compressor returns
// is a claim: the chunker compares it with its own and the uploader binds
// the blob to it (issue 10).
//
// keyed_id (an encrypted repository's chunk: the id is an HMAC the
// compressor has no key for): Compress does not compare ref.digest but
// checks data_crc32c (required), refuses compute_digest and answers with
// keyed_id set; Decompress of a keyed_id blob is DecodeBlobUnnamed (frame,
// CRC32C, decompression, length; the chunker checks the id).
//
// Errors of Compress (each carries PHASE_COMPRESSION):
//   INVALID_ARGUMENT  missing chunk or digest (not 32 bytes), more than one
//                     of digest/compute_digest/caller_names_blob, empty data,
//                     data over 64 MiB, a chunk marked `known`, raw_length
//                     that disagrees with the data, unknown or unspecified
//                     codec, a level the codec does not take;
//   DATA_LOSS         "chunk <hex>: bytes do not match the digest ...", or
//                     a CRC32C that does not match the data.
// Errors of Decompress (no phase: the caller knows whether it restores or
// verifies, and corruption is exit 8 either way):
//   INVALID_ARGUMENT  missing digest or empty blob;
//   DATA_LOSS         "blob <hex>: ..." (DecodeBlob), or a raw_length that
//                     disagrees with the blob.
//
// Thread-safety: the service is thread-safe; it owns its worker pool.
#ifndef ARCA_SERVICES_COMPRESSOR_COMPRESSOR_SERVICE_H_
#define ARCA_SERVICES_COMPRESSOR_COMPRESSOR_SERVICE_H_

#include <cstddef>

#include "absl/status/statusor.h"
#include "arca/v1/compressor.grpc.pb.h"
#include "libs/metrics/service_metrics.h"
#include "libs/base/worker_pool.h"

namespace arca::services {

struct CompressorOptions {
  int threads = 0;           // worker threads; 0 = hardware concurrency
  size_t max_in_flight = 0;  // per stream; 0 = 2 × threads
};

class CompressorService final : public v1::Compressor::CallbackService {
 public:
  explicit CompressorService(CompressorOptions options);
  ~CompressorService() override;

  grpc::ServerBidiReactor<v1::CompressRequest, v1::Blob>* Compress(
      grpc::CallbackServerContext* context) override;
  grpc::ServerBidiReactor<v1::Blob, v1::RawChunk>* Decompress(
      grpc::CallbackServerContext* context) override;

 private:
  WorkerPool pool_;
  size_t max_in_flight_;
};

// One request of each stream, without gRPC (what the workers run). Both
// count a successful chunk in CompressorServiceMetrics(): chunks/raw/stored
// bytes of its op and codec (Compress: the requested codec, plus
// incompressible_chunks_total when it was stored raw; Decompress: the blob's
// codec). Failures are counted by the service, once per failed stream (the
// error that ends it), in errors_total: Compress phase compression, exit 11;
// Decompress DATA_LOSS as verification/8, others as restore/13.
absl::StatusOr<v1::Blob> CompressChunk(v1::CompressRequest request);
absl::StatusOr<v1::RawChunk> DecompressBlob(v1::Blob blob);

// The compressor's catalog (arca_compressor_*) on metrics::ProcessRegistry(),
// created on first use and shared by every CompressorService of the process.
// Streams count in streams_running, their queued chunks (being compressed or
// waiting to be written) in chunks_in_flight.
metrics::CompressorMetrics& CompressorServiceMetrics();

}  // namespace arca::services

#endif  // ARCA_SERVICES_COMPRESSOR_COMPRESSOR_SERVICE_H_
