// Measures EncodeBlob's incompressibility probe on a real tree
// (libs/blob/README.md).
//
//   blob_eval [--codec=zstd] [--level=3] [--max_mib=N] [--verbose] DIR...
//
// The regular files under DIR (sorted, symlinks not followed) are
// concatenated like arca's payload stream and cut with the payload chunker
// defaults. Every chunk is encoded twice on one thread:
//  - "whole": compressed whole, kept if it saves >= 1/32 (EncodeBlob's rule
//    without the probe);
//  - "probe": EncodeBlob itself.
// Reports time, stored bytes and chunks stored raw for both; --verbose lists
// the chunks the probe stored raw although compressing them whole would have
// saved >= 1/32.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "libs/blob/blob.h"
#include "libs/chunker/chunker.h"

namespace arca {
namespace {

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int Main(int argc, char** argv) {
  uint64_t max_bytes = uint64_t{1536} << 20;
  Codec codec = Codec::kZstd;
  int level = -1;
  bool verbose = false;
  std::vector<std::string> roots;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--max_mib=", 0) == 0) {
      max_bytes = std::strtoull(arg.c_str() + 10, nullptr, 10) << 20;
    } else if (arg.rfind("--codec=", 0) == 0) {
      absl::StatusOr<Codec> c = ParseCodec(arg.substr(8));
      if (!c.ok()) {
        std::fprintf(stderr, "%s\n", std::string(c.status().message()).c_str());
        return 2;
      }
      codec = *c;
    } else if (arg == "--verbose") {
      verbose = true;
    } else if (arg.rfind("--level=", 0) == 0) {
      level = std::atoi(arg.c_str() + 8);
    } else {
      roots.push_back(arg);
    }
  }
  if (level < 0) level = DefaultLevel(codec);
  if (roots.empty()) {
    std::fprintf(stderr, "usage: blob_eval [--codec=C] [--level=N] [--max_mib=N] DIR...\n");
    return 2;
  }
  std::vector<std::filesystem::path> paths;
  for (const std::string& root : roots) {
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(
             root, std::filesystem::directory_options::skip_permission_denied, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec) && !it->is_symlink(ec)) {
        paths.push_back(it->path());
      }
    }
  }
  std::sort(paths.begin(), paths.end());
  std::string stream;
  for (const auto& p : paths) {
    std::ifstream in(p, std::ios::binary);
    if (!in) continue;
    std::string content{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (stream.size() + content.size() > max_bytes) break;
    stream += content;
  }
  std::vector<std::span<const uint8_t>> chunks;
  {
    Chunker chunker(ChunkerParams::PayloadDefault());
    std::span<const uint8_t> rest(reinterpret_cast<const uint8_t*>(stream.data()), stream.size());
    while (!rest.empty()) {
      size_t n = chunker.Scan(rest);
      if (n == 0) n = rest.size();
      chunks.push_back(rest.first(n));
      rest = rest.subspan(n);
    }
  }

  uint64_t whole_bytes = 0, probe_bytes = 0;
  size_t whole_raw = 0, probe_raw = 0, probe_lost = 0;
  double whole_s = 0, probe_s = 0;
  std::string packed;
  for (std::span<const uint8_t> chunk : chunks) {
    auto start = std::chrono::steady_clock::now();
    packed.clear();
    if (!Compress(codec, level, chunk, &packed).ok()) return 1;
    const bool keep =
        packed.size() + chunk.size() / 32 <= chunk.size() && packed.size() < chunk.size();
    whole_s += Seconds(start);
    whole_bytes += kBlobHeaderSize + (keep ? packed.size() : chunk.size());
    if (!keep) ++whole_raw;

    start = std::chrono::steady_clock::now();
    absl::StatusOr<std::string> blob = EncodeBlob(chunk, codec, level);
    probe_s += Seconds(start);
    if (!blob.ok()) return 1;
    probe_bytes += blob->size();
    const bool raw = static_cast<uint8_t>((*blob)[6]) == static_cast<uint8_t>(Codec::kNone);
    if (raw) ++probe_raw;
    if (raw && keep) {
      ++probe_lost;
      if (verbose) {
        std::fprintf(stderr, "lost: chunk of %zu bytes compresses to %.3f\n", chunk.size(),
                     double(packed.size()) / chunk.size());
      }
    }
  }
  const double mib = stream.size() / 1048576.0;
  std::printf("%s-%d on %.1f MiB, %zu chunks\n", std::string(CodecName(codec)).c_str(), level, mib,
              chunks.size());
  std::printf("| | time | MiB/s | stored MiB | chunks stored raw |\n|---|---|---|---|---|\n");
  std::printf("| whole | %.2f s | %.0f | %.1f | %zu |\n", whole_s, mib / whole_s,
              whole_bytes / 1048576.0, whole_raw);
  std::printf("| probe | %.2f s | %.0f | %.1f | %zu (%zu would have compressed) |\n", probe_s,
              mib / probe_s, probe_bytes / 1048576.0, probe_raw, probe_lost);
  return 0;
}

}  // namespace
}  // namespace arca

int main(int argc, char** argv) { return arca::Main(argc, argv); }
