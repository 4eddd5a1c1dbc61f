// Fuzz target for the blob decoders (run as a test by
// //libs/testing:fuzz_driver over testdata/blob_corpus/, and under
// -fsanitize=fuzzer with clang). Whatever the input, the decoders must return
// a status, never crash, and report corruption as DataLoss.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "libs/blob/blob.h"
#include "libs/hash/crc32c.h"

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "blob_fuzz: invariant violated: %s\n", what);
    std::abort();
  }
}

void PutLe32(std::string& s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
}

void Decode(std::span<const uint8_t> in, const arca::Digest& digest) {
  absl::StatusOr<arca::BlobHeader> header = arca::ParseBlobHeader(in);
  if (header.ok()) {
    Check(header->stored_length + arca::kBlobHeaderSize == in.size(),
          "parsed stored_length matches the blob size");
    Check(header->raw_length <= arca::kMaxBlobRawLength, "raw_length bound");
  } else {
    Check(header.status().code() == absl::StatusCode::kDataLoss, "header errors are DataLoss");
  }
  absl::StatusOr<std::string> raw = arca::DecodeBlob(in, digest);
  if (raw.ok()) {
    Check(header.ok() && raw->size() == header->raw_length, "decoded size is raw_length");
    Check(arca::Sha256(*raw) == digest, "decoded bytes have the digest");
  } else {
    Check(raw.status().code() == absl::StatusCode::kDataLoss, "decode errors are DataLoss");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const arca::Digest kDigest = arca::Sha256("arca blob fuzz");
  std::span<const uint8_t> in(data, size);
  Decode(in, kDigest);

  // A mutation almost never survives the two CRCs. To let it reach the
  // decompressors, decode a copy whose CRCs are recomputed, once with the
  // fixed digest and once with the digest of what it should decode to
  // (unknown: use the digest of the payload, exercising the success path
  // for codec none).
  if (size >= arca::kBlobHeaderSize) {
    std::string fixed(reinterpret_cast<const char*>(data), size);
    PutLe32(fixed, 24, arca::Crc32c(std::string_view(fixed).substr(32)));
    PutLe32(fixed, 28, arca::Crc32c(std::string_view(fixed).substr(0, 28)));
    std::span<const uint8_t> f(reinterpret_cast<const uint8_t*>(fixed.data()), fixed.size());
    Decode(f, kDigest);
    Decode(f, arca::Sha256(std::string_view(fixed).substr(32)));
  }
  return 0;
}
