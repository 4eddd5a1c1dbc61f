// Walks (and optionally reads) a real tree: the collector's file-system cost
// without the rest of the pipeline. ARCA_BENCH_DIR picks the tree (default
// /usr/share). Run:
//   bazel run -c opt //libs/fs:tree_walker_benchmark -- --benchmark_min_time=1
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "libs/fs/file_content_reader.h"
#include "libs/fs/file_system.h"
#include "libs/fs/tree_walker.h"

namespace arca::fs {
namespace {

std::string BenchDir() {
  const char* dir = std::getenv("ARCA_BENCH_DIR");
  return dir != nullptr ? dir : "/usr/share";
}

void Walk(benchmark::State& state, bool read) {
  const std::string root = BenchDir();
  std::vector<uint8_t> buf(1 << 20);
  uint64_t entries = 0, files = 0, bytes = 0, warnings = 0, skipped = 0;
  for (auto _ : state) {
    entries = files = bytes = warnings = skipped = 0;
    absl::StatusOr<std::unique_ptr<TreeWalker>> walker =
        TreeWalker::Open(DefaultFileSystem(), root, {});
    if (!walker.ok()) {
      state.SkipWithError(std::string(walker.status().message()).c_str());
      return;
    }
    v1::Entry entry;
    while (true) {
      absl::StatusOr<bool> more = (*walker)->Next(&entry);
      if (!more.ok() || !*more) break;
      ++entries;
      if (!read || entry.type() != v1::ENTRY_TYPE_REGULAR) continue;
      ++files;
      auto reader = FileContentReader::Open(DefaultFileSystem(),
                                            (*walker)->AbsolutePath(entry.path()), entry);
      if (!reader.ok()) {
        ++skipped;
        continue;
      }
      for (;;) {
        absl::StatusOr<size_t> n = (*reader)->Read(buf);
        if (!n.ok() || *n == 0) break;
        bytes += *n;
      }
      if (!(*reader)->CheckUnchanged().ok()) ++skipped;
    }
    warnings += (*walker)->TakeWarnings().size();
  }
  state.counters["entries"] = static_cast<double>(entries);
  state.counters["files"] = static_cast<double>(files);
  state.counters["bytes"] = static_cast<double>(bytes);
  state.counters["warnings"] = static_cast<double>(warnings);
  state.counters["skipped"] = static_cast<double>(skipped);
  state.counters["entries_per_s"] = benchmark::Counter(
      static_cast<double>(entries), benchmark::Counter::kIsIterationInvariantRate);
  state.SetBytesProcessed(static_cast<int64_t>(bytes) * state.iterations());
}

void BM_WalkMetadataOnly(benchmark::State& state) { Walk(state, false); }
void BM_WalkAndReadAll(benchmark::State& state) { Walk(state, true); }

BENCHMARK(BM_WalkMetadataOnly)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WalkAndReadAll)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace arca::fs
