// What encryption costs per chunk: the id (SHA-256 vs HMAC-SHA-256), encoding
// (EncodeBlob vs EncodeChunkBlob with a key: + AES-256-GCM seal) and decoding
// (DecodeBlob vs DecodeChunkBlob: + GCM open), on 1 MiB chunks of text-like
// and of random data, zstd level 3 (the default).
//   bazel run //libs/blob:sealed_blob_benchmark
#include <random>
#include <string>

#include "benchmark/benchmark.h"
#include "libs/base/bytes.h"
#include "libs/blob/sealed_blob.h"

namespace arca {
namespace {

std::string Chunk(bool text) {
  std::string s(1 << 20, '\0');
  std::mt19937_64 rng(42);
  if (!text) {
    for (char& c : s) c = static_cast<char>(rng());
    return s;
  }
  static const char* kWords[] = {"backup ", "chunk ", "repository ", "snapshot ", "the ",
                                 "data ",   "file ",  "encrypted ",   "\n",        "of "};
  size_t at = 0;
  while (at < s.size()) {
    const char* w = kWords[rng() % 10];
    for (const char* p = w; *p && at < s.size(); ++p) s[at++] = *p;
  }
  return s;
}

const RepositoryKey& Key() {
  static const RepositoryKey key = RepositoryKey::Generate();
  return key;
}

// range(0): 1 text, 0 random; range(1): 1 encrypted, 0 plaintext.
void BM_ChunkId(benchmark::State& state) {
  const std::string c = Chunk(state.range(0));
  const RepositoryKey* key = state.range(1) ? &Key() : nullptr;
  for (auto _ : state) benchmark::DoNotOptimize(ChunkIdOf(AsBytes(c), key));
  state.SetBytesProcessed(state.iterations() * c.size());
}

void BM_Encode(benchmark::State& state) {
  const std::string c = Chunk(state.range(0));
  const RepositoryKey* key = state.range(1) ? &Key() : nullptr;
  const Digest id = ChunkIdOf(AsBytes(c), key);
  for (auto _ : state) {
    benchmark::DoNotOptimize(EncodeChunkBlob(AsBytes(c), id, Codec::kZstd, 3, key));
  }
  state.SetBytesProcessed(state.iterations() * c.size());
}

void BM_Decode(benchmark::State& state) {
  const std::string c = Chunk(state.range(0));
  const RepositoryKey* key = state.range(1) ? &Key() : nullptr;
  const Digest id = ChunkIdOf(AsBytes(c), key);
  const std::string blob = *EncodeChunkBlob(AsBytes(c), id, Codec::kZstd, 3, key);
  for (auto _ : state) benchmark::DoNotOptimize(DecodeChunkBlob(AsBytes(blob), id, key));
  state.SetBytesProcessed(state.iterations() * c.size());
}

#define ARCA_ARGS ArgNames({"text", "encrypted"})->ArgsProduct({{1, 0}, {0, 1}})
BENCHMARK(BM_ChunkId)->ARCA_ARGS;
BENCHMARK(BM_Encode)->ARCA_ARGS;
BENCHMARK(BM_Decode)->ARCA_ARGS;

}  // namespace
}  // namespace arca
