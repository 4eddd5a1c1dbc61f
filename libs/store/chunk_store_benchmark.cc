// Times LocalChunkStore Put+Flush of COUNT distinct blobs of KIB KiB in DIR,
// once with syncfs (the default) and once with per-file fdatasync, using
// THREADS writer threads (the pipeline's upload stage calls Put from several).
//
//   bazel run -c opt //libs/store:chunk_store_benchmark -- DIR [COUNT] [KIB] [THREADS]
//
// DIR must be on the file system to measure (not tmpfs); it is emptied first.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/hash/digest.h"
#include "libs/store/chunk_store.h"

namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// Returns the total seconds, or a negative value on failure.
double Run(const std::string& dir, bool per_file, int count, size_t kib, int threads) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  arca::LocalChunkStoreOptions options;
  options.per_file_fsync = per_file;
  auto store = arca::LocalChunkStore::Open(dir, options);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return -1;
  }
  // Distinct blobs: a counter stamped into a random-looking buffer.
  std::string base(kib * 1024, '\0');
  uint64_t x = 88172645463325252ull;
  for (char& c : base) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  // Only the digests are precomputed; each thread stamps its blob on the fly.
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      std::string blob = base;
      for (int i = next++; i < count; i = next++) {
        std::memcpy(blob.data(), &i, sizeof(i));
        arca::Digest d = arca::Sha256(blob);
        auto put = (*store)->Put(d, blob);
        if (!put.ok() || !*put) ++failures;
      }
    });
  }
  for (auto& w : workers) w.join();
  double put_seconds = Seconds(start);
  auto flush_start = std::chrono::steady_clock::now();
  absl::Status st = (*store)->Flush();
  double flush_seconds = Seconds(flush_start);
  double total = Seconds(start);
  if (!st.ok() || failures > 0) {
    std::fprintf(stderr, "failed: %s, %d put failures\n", st.ToString().c_str(), failures.load());
    return -1;
  }
  std::printf(
      "%-22s %5d x %4zu KiB, %d threads: puts %.2f s, final flush %.2f s, "
      "total %.2f s (%.0f MB/s)\n",
      per_file ? "per-file fdatasync" : "syncfs", count, kib, threads, put_seconds, flush_seconds,
      total, count * kib * 1024.0 / total / 1e6);
  store->reset();
  std::filesystem::remove_all(dir);
  return total;
}

// Reference: the same bytes written to plain files without any sync.
void RunNoSync(const std::string& dir, int count, size_t kib) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string blob(kib * 1024, 'x');
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < count; ++i) {
    std::string path = absl::StrCat(dir, "/", i);
    FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) return;
    std::fwrite(blob.data(), 1, blob.size(), f);
    std::fclose(f);
  }
  double total = Seconds(start);
  std::printf("%-22s %5d x %4zu KiB, 1 thread:  total %.2f s (%.0f MB/s)\n", "no sync (reference)",
              count, kib, total, count * kib * 1024.0 / total / 1e6);
  std::filesystem::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [COUNT] [KIB] [THREADS] [ROUNDS]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const int count = argc > 2 ? std::atoi(argv[2]) : 2000;
  const size_t kib = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 500;
  const int threads = argc > 4 ? std::atoi(argv[4]) : 2;
  const int rounds = argc > 5 ? std::atoi(argv[5]) : 3;
  RunNoSync(dir, count, kib);
  // Alternate the modes so that load from other processes hits both alike.
  std::vector<double> times[2];
  for (int r = 0; r < rounds; ++r) {
    for (bool per_file : {false, true}) {
      double t = Run(dir, per_file, count, kib, threads);
      if (t < 0) return 1;
      times[per_file].push_back(t);
    }
  }
  for (bool per_file : {false, true}) {
    std::vector<double>& v = times[per_file];
    std::sort(v.begin(), v.end());
    std::printf("median of %d: %-20s %.2f s\n", rounds, per_file ? "per-file fdatasync" : "syncfs",
                v[v.size() / 2]);
  }
  return 0;
}
