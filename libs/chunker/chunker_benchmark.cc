// Throughput of Chunker::Scan over random data (the worst case for the
// boundary test: every byte is hashed past the skipped prefix).
//   bazel run //libs/chunker:chunker_benchmark
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "libs/chunker/chunker.h"

namespace arca {
namespace {

const std::vector<uint8_t>& RandomData() {
  static const std::vector<uint8_t>* data = [] {
    auto* v = new std::vector<uint8_t>(64 << 20);
    std::mt19937_64 rng(1);
    for (size_t i = 0; i < v->size(); i += 8) {
      const uint64_t r = rng();
      for (int k = 0; k < 8; ++k) (*v)[i + k] = static_cast<uint8_t>(r >> (8 * k));
    }
    return v;
  }();
  return *data;
}

// Chunks 64 MiB of random data with the given parameters; counts chunks.
void ScanAll(benchmark::State& state, const ChunkerParams& params) {
  const std::vector<uint8_t>& data = RandomData();
  size_t chunks = 0;
  for (auto _ : state) {
    Chunker chunker(params);
    std::span<const uint8_t> rest(data);
    chunks = 0;
    while (!rest.empty()) {
      const size_t n = chunker.Scan(rest);
      if (n == 0) break;
      ++chunks;
      rest = rest.subspan(n);
    }
    benchmark::DoNotOptimize(chunks);
  }
  state.SetBytesProcessed(state.iterations() * data.size());
  state.counters["mean_chunk_KiB"] =
      static_cast<double>(data.size()) / 1024 / std::max<size_t>(chunks, 1);
}

void BM_ScanPayloadDefault(benchmark::State& state) {
  ScanAll(state, ChunkerParams::PayloadDefault());
}
void BM_ScanMetadataDefault(benchmark::State& state) {
  ScanAll(state, ChunkerParams::MetadataDefault());
}

// Scan fed in pieces of range(0) bytes (as a stream reader would).
void BM_ScanPieces(benchmark::State& state) {
  const std::vector<uint8_t>& data = RandomData();
  const size_t piece = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    Chunker chunker(ChunkerParams::PayloadDefault());
    size_t chunks = 0;
    for (size_t pos = 0; pos < data.size(); pos += piece) {
      std::span<const uint8_t> rest =
          std::span(data).subspan(pos, std::min(piece, data.size() - pos));
      while (size_t n = chunker.Scan(rest)) {
        ++chunks;
        rest = rest.subspan(n);
      }
    }
    benchmark::DoNotOptimize(chunks);
  }
  state.SetBytesProcessed(state.iterations() * data.size());
}

BENCHMARK(BM_ScanPayloadDefault)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScanMetadataDefault)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScanPieces)->Arg(4096)->Arg(64 << 10)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace arca
