// Compression and decompression throughput per codec and level, on 1 MiB
// inputs (the payload chunk size): text taken from /usr/share/doc (files
// without NUL bytes, not .gz/.png/...) and random bytes.
//   bazel run //libs/codec:codec_benchmark -- --benchmark_min_time=0.2
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <string>

#include "benchmark/benchmark.h"
#include "libs/codec/codec.h"

namespace arca {
namespace {

constexpr size_t kInputSize = 1 << 20;

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// `size` bytes of concatenated uncompressed files from /usr/share/doc, in a
// fixed order; generated text where the directory has too little.
std::string LoadText(size_t size) {
  std::string text;
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (auto it = std::filesystem::recursive_directory_iterator("/usr/share/doc", ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const auto& p = it->path();
    static const std::set<std::string> kBinary = {".gz",  ".bz2", ".xz",  ".zst",
                                                  ".png", ".jpg", ".gif", ".pdf"};
    if (it->is_regular_file(ec) && !kBinary.contains(p.extension())) {
      files.push_back(p);
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& p : files) {
    if (text.size() >= size) break;
    std::ifstream in(p, std::ios::binary);
    std::string content{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    // Text only: skip files with a NUL byte.
    if (content.find('\0') == std::string::npos) text += content;
  }
  std::mt19937_64 rng(1);
  while (text.size() < size) {
    text += "generated text line " + std::to_string(rng() % 1000) + "\n";
  }
  text.resize(size);
  return text;
}

const std::string& Text() {
  static const std::string* text = new std::string(LoadText(kInputSize));
  return *text;
}

const std::string& Random() {
  static const std::string* random = [] {
    auto* s = new std::string(kInputSize, '\0');
    std::mt19937_64 rng(2);
    for (auto& c : *s) c = static_cast<char>(rng());
    return s;
  }();
  return *random;
}

const std::string& Input(int64_t kind) { return kind == 0 ? Text() : Random(); }

void SetLabel(benchmark::State& state, Codec codec, int level, size_t packed) {
  state.SetLabel(std::string(CodecName(codec)) + "-" + std::to_string(level) +
                 (state.range(2) == 0 ? " text" : " random") + " ratio " +
                 std::to_string(static_cast<double>(packed) / kInputSize));
}

// Args: codec, level, input (0 text, 1 random).
void BM_Compress(benchmark::State& state) {
  const Codec codec = static_cast<Codec>(state.range(0));
  const int level = static_cast<int>(state.range(1));
  const std::string& in = Input(state.range(2));
  std::string out;
  for (auto _ : state) {
    out.clear();
    if (!Compress(codec, level, Bytes(in), &out).ok()) {
      state.SkipWithError("compress failed");
      break;
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * in.size());
  SetLabel(state, codec, level, out.size());
}

void BM_Decompress(benchmark::State& state) {
  const Codec codec = static_cast<Codec>(state.range(0));
  const int level = static_cast<int>(state.range(1));
  const std::string& in = Input(state.range(2));
  std::string packed, out;
  if (!Compress(codec, level, Bytes(in), &packed).ok()) {
    state.SkipWithError("compress failed");
    return;
  }
  for (auto _ : state) {
    out.clear();
    if (!Decompress(codec, Bytes(packed), in.size(), &out).ok()) {
      state.SkipWithError("decompress failed");
      break;
    }
    benchmark::DoNotOptimize(out.data());
  }
  // Bytes are counted on the raw side for both directions.
  state.SetBytesProcessed(state.iterations() * in.size());
  SetLabel(state, codec, level, packed.size());
}

void Levels(benchmark::internal::Benchmark* b) {
  for (int input : {0, 1}) {
    b->Args({static_cast<int>(Codec::kNone), 0, input});
    for (int level : {1, 3, 9, 19}) {
      b->Args({static_cast<int>(Codec::kZstd), level, input});
    }
    for (int level : {0, 6, 9}) {
      b->Args({static_cast<int>(Codec::kXz), level, input});
    }
  }
  b->ArgNames({"codec", "level", "random"});
  b->Unit(benchmark::kMillisecond);
}

// 4 MiB of text with 1 or 2 threads. Args: codec, level, threads.
void BM_CompressThreads(benchmark::State& state) {
  const Codec codec = static_cast<Codec>(state.range(0));
  const int level = static_cast<int>(state.range(1));
  const int threads = static_cast<int>(state.range(2));
  static const std::string* text = new std::string(LoadText(4 << 20));
  const std::string& in = *text;
  std::string out;
  for (auto _ : state) {
    out.clear();
    if (!Compress(codec, level, Bytes(in), &out, threads).ok()) {
      state.SkipWithError("compress failed");
      break;
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * in.size());
  state.SetLabel(std::string(CodecName(codec)) + "-" + std::to_string(level) + " ratio " +
                 std::to_string(static_cast<double>(out.size()) / in.size()));
}

BENCHMARK(BM_Compress)->Apply(Levels);
BENCHMARK(BM_Decompress)->Apply(Levels);
BENCHMARK(BM_CompressThreads)
    ->Args({static_cast<int>(Codec::kZstd), 3, 1})
    ->Args({static_cast<int>(Codec::kZstd), 3, 2})
    ->Args({static_cast<int>(Codec::kXz), 6, 1})
    ->Args({static_cast<int>(Codec::kXz), 6, 2})
    ->ArgNames({"codec", "level", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace arca
