// Throughput of SHA-256 (OpenSSL EVP, SHA-NI where present) and CRC32C
// (SSE4.2 where present) on 4 KiB, 1 MiB and 4 MiB inputs.
//   bazel run //libs/hash:hash_benchmark
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "libs/hash/crc32c.h"
#include "libs/hash/digest.h"

namespace arca {
namespace {

std::vector<uint8_t> RandomBytes(size_t n) {
  std::vector<uint8_t> v(n);
  std::mt19937_64 rng(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

void BM_Sha256(benchmark::State& state) {
  const std::vector<uint8_t> data = RandomBytes(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(Sha256(data));
  state.SetBytesProcessed(state.iterations() * data.size());
}

// The incremental hasher fed in 64 KiB pieces, as a stream reader would.
void BM_Sha256Hasher(benchmark::State& state) {
  const std::vector<uint8_t> data = RandomBytes(state.range(0));
  Sha256Hasher hasher;
  for (auto _ : state) {
    std::span<const uint8_t> rest(data);
    while (!rest.empty()) {
      const size_t n = std::min<size_t>(rest.size(), 64 << 10);
      hasher.Update(rest.first(n));
      rest = rest.subspan(n);
    }
    benchmark::DoNotOptimize(hasher.Finish());
  }
  state.SetBytesProcessed(state.iterations() * data.size());
}

void BM_Crc32c(benchmark::State& state) {
  const std::vector<uint8_t> data = RandomBytes(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(Crc32c(data));
  state.SetBytesProcessed(state.iterations() * data.size());
}

BENCHMARK(BM_Sha256)->Arg(4 << 10)->Arg(1 << 20)->Arg(4 << 20);
BENCHMARK(BM_Sha256Hasher)->Arg(1 << 20)->Arg(4 << 20);
BENCHMARK(BM_Crc32c)->Arg(4 << 10)->Arg(1 << 20)->Arg(4 << 20);

}  // namespace
}  // namespace arca
