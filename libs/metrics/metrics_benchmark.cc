// Cost of the metric operations a hot path performs (issue 5: metrics must
// not cost throughput). Run:
//   bazel run -c opt //libs/metrics:metrics_benchmark
#include <benchmark/benchmark.h>

#include "libs/metrics/registry.h"
#include "libs/metrics/service_metrics.h"
#include "prometheus/registry.h"

namespace arca::metrics {
namespace {

// One chunk counted: a catalog reference, one atomic add.
void BM_CounterIncrement(benchmark::State& state) {
  static prometheus::Registry* registry = new prometheus::Registry;
  static ChunkerMetrics* m = new ChunkerMetrics(*registry);
  for (auto _ : state) m->input_bytes.Increment(65536);
  benchmark::DoNotOptimize(m->input_bytes.Value());
}
BENCHMARK(BM_CounterIncrement)->Threads(1)->Threads(2);

// One observation of a 13-bucket duration histogram (picked by enum index).
void BM_HistogramObserve(benchmark::State& state) {
  static prometheus::Registry* registry = new prometheus::Registry;
  static ChunkerMetrics* m = new ChunkerMetrics(*registry);
  double v = 0.0001;
  for (auto _ : state) {
    m->PhaseDuration(v1::PHASE_ARCHIVE).Observe(v);
    v = v < 5000 ? v * 1.7 : 0.0001;
  }
}
BENCHMARK(BM_HistogramObserve)->Threads(1)->Threads(2);

// A chunk in flight: gauge +1 then -1.
void BM_GaugeInFlight(benchmark::State& state) {
  static prometheus::Registry* registry = new prometheus::Registry;
  static CompressorMetrics* m = new CompressorMetrics(*registry);
  for (auto _ : state) GaugeInFlight in_flight(m->chunks_in_flight);
}
BENCHMARK(BM_GaugeInFlight);

// A codec-labelled series picked by array index, then incremented.
void BM_CodecSeriesIncrement(benchmark::State& state) {
  static prometheus::Registry* registry = new prometheus::Registry;
  static CompressorMetrics* m = new CompressorMetrics(*registry);
  for (auto _ : state) {
    m->Series(CompressorMetrics::Op::kCompress, v1::CODEC_ZSTD).raw_bytes.Increment(65536);
  }
}
BENCHMARK(BM_CodecSeriesIncrement);

// For contrast: what the catalogs avoid, a label lookup per increment.
void BM_CounterViaLabelLookup(benchmark::State& state) {
  static prometheus::Registry* registry = new prometheus::Registry;
  static auto* family = &CounterFamily(*registry, "arca_bench_total", "bench");
  for (auto _ : state) family->Add({{"op", "compress"}, {"codec", "zstd"}}).Increment(65536);
}
BENCHMARK(BM_CounterViaLabelLookup);

}  // namespace
}  // namespace arca::metrics
