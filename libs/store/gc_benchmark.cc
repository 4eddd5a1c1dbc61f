// gc (gc.h) over a synthetic repository: time and peak RSS.
//
//   bazel run //libs/store:gc_benchmark -- setup DIR [CHUNKS] [SNAPSHOTS]
//   bazel run //libs/store:gc_benchmark -- run DIR [--dry-run]
//   bazel run //libs/store:gc_benchmark -- garbage DIR [CHUNKS] [AGE_SECONDS]
//
// setup creates a repository with CHUNKS (default 1,000,000) empty chunk
// files (gc never reads a chunk: only names and times matter) and SNAPSHOTS
// (default 100) snapshots committed with Repository::CommitSnapshot. Snapshot
// s references, in its payload index, the chunks [s × step, s × step + window)
// of the first 90 % (step = 90 % / SNAPSHOTS, window = 5.5 × step, so each is
// referenced ~5 times and every snapshot has ~50,000 entries at 1M chunks);
// its metadata index holds one chunk of its own. The last 10 % are garbage.
// run does one gc with its clock an hour ahead (so the garbage is old enough)
// in a fresh process and prints the statistics, the time and the peak RSS
// (getrusage ru_maxrss).
// garbage (re)creates the garbage chunk files of a repository made by setup
// with the same CHUNKS (those a gc removed) and sets the mtime of all of them
// AGE_SECONDS (default 86,400) into the past, so that a real `arca gc` with
// its default clock slack collects the same garbage again
// (tools/bench/bench.py --scenario gc runs it before every timed gc).
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

#include "absl/strings/str_cat.h"
#include "libs/archive/chunk_index.h"
#include "libs/hash/digest.h"
#include "libs/store/gc.h"
#include "libs/store/repository.h"

namespace arca {
namespace {

Digest ChunkDigest(uint64_t i) { return Sha256(absl::StrCat("bench chunk ", i)); }

// Creates the empty chunk file of ChunkDigest(i) under `chunk_dir` (and its
// two directory levels) unless it exists; with `mtime` set, sets its times
// to it. Sets *created when the file was new. False after printing the error.
bool MakeChunkFile(const std::string& chunk_dir, uint64_t i, const struct timespec* mtime,
                   bool* created) {
  const std::string hex = ChunkDigest(i).Hex();
  const std::string a = absl::StrCat(chunk_dir, "/", hex.substr(0, 2));
  const std::string b = absl::StrCat(a, "/", hex.substr(2, 2));
  const std::string path = absl::StrCat(b, "/", hex);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (fd < 0 && errno == ENOENT) {
    ::mkdir(a.c_str(), 0755);
    ::mkdir(b.c_str(), 0755);
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  }
  *created = fd >= 0;
  if (fd >= 0) ::close(fd);
  if (fd < 0 && errno != EEXIST) {
    std::perror(path.c_str());
    return false;
  }
  if (mtime != nullptr) {
    const struct timespec times[2] = {*mtime, *mtime};
    if (::utimensat(AT_FDCWD, path.c_str(), times, 0) != 0) {
      std::perror(path.c_str());
      return false;
    }
  }
  return true;
}

int Setup(const std::string& dir, uint64_t chunks, uint64_t snapshots) {
  v1::RepositoryConfig config;
  config.mutable_payload_chunker()->set_min_size(256 << 10);
  config.mutable_payload_chunker()->set_avg_size(1 << 20);
  config.mutable_payload_chunker()->set_max_size(4 << 20);
  config.mutable_metadata_chunker()->set_min_size(64 << 10);
  config.mutable_metadata_chunker()->set_avg_size(256 << 10);
  config.mutable_metadata_chunker()->set_max_size(1 << 20);
  config.set_default_codec(v1::CODEC_ZSTD);
  auto repo = Repository::Init(dir, config);
  if (!repo.ok()) {
    std::fprintf(stderr, "%s\n", std::string(repo.status().message()).c_str());
    return 1;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const std::string chunk_dir = dir + "/chunks";
  for (uint64_t i = 0; i < chunks; ++i) {
    bool created;
    if (!MakeChunkFile(chunk_dir, i, nullptr, &created)) return 1;
    if ((i + 1) % 100000 == 0) std::fprintf(stderr, "%lu chunk files\n", i + 1);
  }
  const uint64_t live = chunks * 9 / 10;
  const uint64_t step = live / snapshots;
  const uint64_t window = step * 11 / 2;
  uint64_t entries = 0;
  for (uint64_t s = 0; s < snapshots; ++s) {
    ChunkIndex meta, payload;
    meta.Append(ChunkDigest(s * step), 100);  // shares a payload chunk: fine for gc
    for (uint64_t i = s * step; i < std::min(live, s * step + window); ++i) {
      payload.Append(ChunkDigest(i), 1 << 20);
    }
    entries += payload.size() + 1;
    v1::Manifest m;
    m.set_host("bench");
    m.add_sources("/data");
    m.set_time_unix_ns(1700000000000000000ll + static_cast<int64_t>(s) * 1000000000);
    auto c = (*repo)->CommitSnapshot(m, meta.Encode(v1::STREAM_KIND_METADATA),
                                     payload.Encode(v1::STREAM_KIND_PAYLOAD));
    if (!c.ok()) {
      std::fprintf(stderr, "%s\n", std::string(c.status().message()).c_str());
      return 1;
    }
  }
  std::printf(
      "setup: %lu chunk files, %lu snapshots, %lu index entries, %lu garbage chunks, "
      "%.1f s\n",
      chunks, snapshots, entries, chunks - live,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return 0;
}

int Garbage(const std::string& dir, uint64_t chunks, int64_t age_seconds) {
  const auto t0 = std::chrono::steady_clock::now();
  const struct timespec mtime = {::time(nullptr) - age_seconds, 0};
  uint64_t created = 0;
  for (uint64_t i = chunks * 9 / 10; i < chunks; ++i) {
    bool c;
    if (!MakeChunkFile(dir + "/chunks", i, &mtime, &c)) return 1;
    created += c ? 1 : 0;
  }
  std::printf("garbage: %lu garbage chunk files (%lu created), mtime %ld s ago, %.1f s\n",
              chunks - chunks * 9 / 10, created, static_cast<long>(age_seconds),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return 0;
}

int Run(const std::string& dir, bool dry_run) {
  auto repo = Repository::Open(dir);
  if (!repo.ok()) {
    std::fprintf(stderr, "%s\n", std::string(repo.status().message()).c_str());
    return 1;
  }
  GcOptions o;
  o.dry_run = dry_run;
  o.now_unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count() +
                  3600ll * 1000000000;
  auto s = RunGc(**repo, o);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.status().message()).c_str());
    return 1;
  }
  struct rusage ru;
  ::getrusage(RUSAGE_SELF, &ru);
  std::printf(
      "gc%s: %lu snapshots, %lu chunks marked, kept %lu, removed %lu; %.2f s (mark %.2f s, "
      "sweep %.2f s); peak RSS %.1f MB\n",
      dry_run ? " --dry-run" : "", s->snapshots, s->chunks_marked, s->chunks_kept,
      s->chunks_removed, s->seconds, s->mark_seconds, s->sweep_seconds, ru.ru_maxrss / 1024.0);
  return 0;
}

}  // namespace
}  // namespace arca

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "setup") {
    return arca::Setup(argv[2], argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1000000,
                       argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 100);
  }
  if (argc >= 3 && std::string(argv[1]) == "run") {
    return arca::Run(argv[2], argc > 3 && std::string(argv[3]) == "--dry-run");
  }
  if (argc >= 3 && std::string(argv[1]) == "garbage") {
    return arca::Garbage(argv[2], argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1000000,
                         argc > 4 ? std::strtoll(argv[4], nullptr, 10) : 86400);
  }
  std::fprintf(stderr,
               "usage: gc_benchmark setup DIR [CHUNKS] [SNAPSHOTS] | run DIR [--dry-run] | "
               "garbage DIR [CHUNKS] [AGE_SECONDS]\n");
  return 2;
}
