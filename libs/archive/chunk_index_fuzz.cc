// Fuzz target for ChunkIndex::Decode (run deterministically by
// //libs/testing:fuzz_driver over testdata/chunk_index_corpus).
//
// Each input is decoded as given and with its trailing SHA-256 recomputed,
// so that mutations reach the structural checks. Invariants (abort on
// violation): no crash; an accepted index re-encodes to exactly the input;
// Find() of every chunk's own range returns that chunk.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "libs/archive/chunk_index.h"
#include "libs/hash/digest.h"

namespace arca {
namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

void DecodeBoth(const std::string& bytes) {
  std::span<const uint8_t> span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  for (v1::StreamKind kind : {v1::STREAM_KIND_METADATA, v1::STREAM_KIND_PAYLOAD}) {
    absl::StatusOr<ChunkIndex> index = ChunkIndex::Decode(span, kind, "fuzz");
    if (!index.ok()) continue;
    Check(index->Encode(kind) == bytes);
    for (size_t i = 0; i < index->size() && i < 1000; ++i) {
      absl::StatusOr<ChunkRange> r = index->Find(index->ChunkStart(i), index->ChunkLength(i));
      Check(r.ok() && !r->empty && r->first == i && r->last == i);
    }
    Check(!index->Find(index->stream_length(), 1).ok());
  }
}

}  // namespace
}  // namespace arca

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  arca::DecodeBoth(in);
  if (in.size() >= 32) {
    const arca::Digest d = arca::Sha256(std::string_view(in.data(), in.size() - 32));
    in.replace(in.size() - 32, 32, d.Raw());
    arca::DecodeBoth(in);
  }
  return 0;
}
