// Compares chunker parameters on a real directory tree, the measurement
// behind ChunkerParams::PayloadDefault (libs/chunker/README.md).
//
//   chunker_eval [--max_mib=N] DIR...
//
// The regular files under DIR (sorted by path, symlinks not followed) are
// concatenated in memory, as arca's payload stream does. For each parameter
// set (avg 256 KiB .. 4 MiB, min = avg/4, max = avg*4) it reports:
//  - Scan throughput (one thread, GB/s) and the number and mean size of chunks;
//  - new bytes after one 100-byte insertion in the middle of the largest file
//    (chunks of the edited stream whose SHA-256 is not among the original's);
//  - new bytes per edit after 50 such insertions at random places in files of
//    at least 64 KiB (a fixed-seed PRNG, the same edits for every set).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "libs/chunker/chunker.h"
#include "libs/hash/digest.h"

namespace arca {
namespace {

struct File {
  uint64_t offset;
  uint64_t size;
};

struct Chunk {
  Digest digest;
  uint64_t length;
};

// Chunks the concatenation of `pieces` and hashes every chunk.
std::vector<Chunk> ChunkPieces(const ChunkerParams& params,
                               const std::vector<std::span<const uint8_t>>& pieces) {
  std::vector<Chunk> out;
  Chunker chunker(params);
  Sha256Hasher hasher;
  uint64_t length = 0;
  for (std::span<const uint8_t> rest : pieces) {
    while (!rest.empty()) {
      const size_t n = chunker.Scan(rest);
      if (n == 0) {
        hasher.Update(rest);
        length += rest.size();
        break;
      }
      hasher.Update(rest.first(n));
      out.push_back({hasher.Finish(), length + n});
      length = 0;
      rest = rest.subspan(n);
    }
  }
  if (length > 0) out.push_back({hasher.Finish(), length});
  return out;
}

// The stream with `insert` placed before each of the sorted `positions`.
std::vector<std::span<const uint8_t>> Edited(std::span<const uint8_t> stream,
                                             std::vector<uint64_t> positions,
                                             std::span<const uint8_t> insert) {
  std::sort(positions.begin(), positions.end());
  std::vector<std::span<const uint8_t>> pieces;
  uint64_t prev = 0;
  for (uint64_t pos : positions) {
    pieces.push_back(stream.subspan(prev, pos - prev));
    pieces.push_back(insert);
    prev = pos;
  }
  pieces.push_back(stream.subspan(prev));
  return pieces;
}

uint64_t NewBytes(const absl::flat_hash_set<Digest>& known, const std::vector<Chunk>& chunks) {
  uint64_t n = 0;
  for (const Chunk& c : chunks) {
    if (!known.contains(c.digest)) n += c.length;
  }
  return n;
}

int Main(int argc, char** argv) {
  uint64_t max_bytes = uint64_t{1536} << 20;
  std::vector<std::string> roots;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--max_mib=", 0) == 0) {
      max_bytes = std::strtoull(arg.c_str() + 10, nullptr, 10) << 20;
    } else {
      roots.push_back(arg);
    }
  }
  if (roots.empty()) {
    std::fprintf(stderr, "usage: chunker_eval [--max_mib=N] DIR...\n");
    return 2;
  }
  std::vector<std::filesystem::path> paths;
  for (const std::string& root : roots) {
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(
             root, std::filesystem::directory_options::skip_permission_denied, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec) && !it->is_symlink(ec)) paths.push_back(it->path());
    }
  }
  std::sort(paths.begin(), paths.end());
  std::vector<uint8_t> stream;
  std::vector<File> files;
  for (const auto& p : paths) {
    std::ifstream in(p, std::ios::binary);
    if (!in) continue;
    std::string content{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (stream.size() + content.size() > max_bytes) break;
    files.push_back({stream.size(), content.size()});
    stream.insert(stream.end(), content.begin(), content.end());
  }
  std::printf("sample: %zu files, %.1f MiB\n", files.size(), stream.size() / 1048576.0);

  // The edits, the same for every parameter set.
  std::mt19937_64 rng(2024);
  std::vector<uint8_t> insert(100);
  for (auto& b : insert) b = static_cast<uint8_t>(rng());
  const File largest = *std::max_element(
      files.begin(), files.end(), [](const File& a, const File& b) { return a.size < b.size; });
  const uint64_t middle = largest.offset + largest.size / 2;
  std::vector<const File*> big;
  uint64_t big_bytes = 0;
  for (const File& f : files) {
    if (f.size >= (64 << 10)) {
      big.push_back(&f);
      big_bytes += f.size;
    }
  }
  std::vector<uint64_t> scattered;
  for (int i = 0; i < 50 && big_bytes > 0; ++i) {
    // A file chosen with probability proportional to its size.
    uint64_t pick = rng() % big_bytes;
    for (const File* f : big) {
      if (pick < f->size) {
        scattered.push_back(f->offset + pick);
        break;
      }
      pick -= f->size;
    }
  }
  std::printf("largest file %.1f MiB; %zu files >= 64 KiB hold %.1f MiB\n\n",
              largest.size / 1048576.0, big.size(), big_bytes / 1048576.0);
  std::printf(
      "| min / avg / max | Scan GB/s | chunks | mean chunk | new bytes, 1 edit "
      "| new bytes per edit, 50 edits |\n|---|---|---|---|---|---|\n");

  for (uint32_t avg : {256u << 10, 512u << 10, 1u << 20, 2u << 20, 4u << 20}) {
    const ChunkerParams params{avg / 4, avg, avg * 4};
    // Throughput of the boundary search alone (best of 3).
    double best = 1e9;
    size_t count = 0;
    for (int round = 0; round < 3; ++round) {
      const auto start = std::chrono::steady_clock::now();
      Chunker chunker(params);
      std::span<const uint8_t> rest(stream);
      count = 0;
      while (!rest.empty()) {
        const size_t n = chunker.Scan(rest);
        ++count;
        if (n == 0) break;
        rest = rest.subspan(n);
      }
      best = std::min(
          best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    const std::vector<Chunk> original = ChunkPieces(params, {stream});
    absl::flat_hash_set<Digest> known;
    for (const Chunk& c : original) known.insert(c.digest);
    const uint64_t one = NewBytes(known, ChunkPieces(params, Edited(stream, {middle}, insert)));
    const uint64_t many = NewBytes(known, ChunkPieces(params, Edited(stream, scattered, insert)));
    std::printf("| %u K / %u K / %u K | %.2f | %zu | %.0f KiB | %.0f KiB | %.0f KiB |\n",
                params.min_size >> 10, params.avg_size >> 10, params.max_size >> 10,
                stream.size() / best / 1e9, original.size(),
                stream.size() / 1024.0 / original.size(), one / 1024.0,
                many / 1024.0 / std::max<size_t>(scattered.size(), 1));
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace arca

int main(int argc, char** argv) { return arca::Main(argc, argv); }
