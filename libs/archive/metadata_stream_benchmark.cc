// Encode/decode throughput of the metadata stream for 1 million entries of a
// synthetic tree (libs/archive/test_entries.h), and the memory the decoder
// needs. Run:  bazel run //libs/archive:metadata_stream_benchmark
//
// Encoding appends to a buffer that is cleared every 1 MiB, as the caller
// feeding a chunker does; decoding reads from a fully encoded stream in
// memory with a reused v1::Entry. Counters: entries/s, stream bytes/s,
// encoded bytes per entry, and the most heap the decoder (reader, its buffer
// and the reused entry) held at once, sampled every 4096 entries: it keeps
// one record and a 64 KiB buffer, whatever the stream's length.
#include <malloc.h>

#include <algorithm>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "libs/archive/metadata_stream.h"
#include "libs/archive/test_entries.h"

namespace arca {
namespace {

constexpr size_t kEntries = 1'000'000;

const std::vector<v1::Entry>& Entries() {
  static const auto* entries = new std::vector<v1::Entry>(testing::MakeTestEntries(kEntries));
  return *entries;
}

const std::string& Encoded() {
  static const std::string* encoded = [] {
    auto* out = new std::string;
    MetadataStreamWriter w;
    w.WriteHeader(out);
    for (const v1::Entry& e : Entries()) {
      if (!w.Append(e, out).ok()) std::abort();
    }
    w.WriteTrailer(out);
    return out;
  }();
  return *encoded;
}

// Bytes currently allocated from the heap (glibc).
double HeapInUse() { return static_cast<double>(mallinfo2().uordblks); }

void BM_Encode1M(benchmark::State& state) {
  const std::vector<v1::Entry>& entries = Entries();
  uint64_t bytes = 0;
  for (auto _ : state) {
    MetadataStreamWriter w;
    std::string out;
    out.reserve(2 << 20);
    w.WriteHeader(&out);
    for (const v1::Entry& e : entries) {
      if (!w.Append(e, &out).ok()) std::abort();
      if (out.size() >= (1 << 20)) out.clear();  // handed to the chunker
    }
    w.WriteTrailer(&out);
    bytes = w.bytes_written();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * entries.size());
  state.SetBytesProcessed(state.iterations() * bytes);
  state.counters["bytes_per_entry"] = static_cast<double>(bytes) / entries.size();
}
BENCHMARK(BM_Encode1M)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_Decode1M(benchmark::State& state) {
  const std::string& encoded = Encoded();
  const double heap_before = HeapInUse();
  double heap_growth = 0;
  uint64_t n = 0;
  for (auto _ : state) {
    StringByteSource src(encoded);
    MetadataStreamReader reader(&src);
    v1::Entry e;
    n = 0;
    while (true) {
      absl::StatusOr<bool> more = reader.Next(&e);
      if (!more.ok()) std::abort();
      if (!*more) break;
      if (++n % 4096 == 0) heap_growth = std::max(heap_growth, HeapInUse() - heap_before);
    }
  }
  if (n != kEntries) std::abort();
  state.SetItemsProcessed(state.iterations() * n);
  state.SetBytesProcessed(state.iterations() * encoded.size());
  state.counters["decoder_heap_kb"] = heap_growth / 1024;
}
BENCHMARK(BM_Decode1M)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_CompareArchiveOrder(benchmark::State& state) {
  const std::vector<v1::Entry>& entries = Entries();
  size_t i = 1;
  for (auto _ : state) {
    benchmark::DoNotOptimize(CompareArchiveOrder(entries[i - 1].path(), entries[i].path()));
    if (++i == entries.size()) i = 1;
  }
}
BENCHMARK(BM_CompareArchiveOrder);

}  // namespace
}  // namespace arca
