// Whole-job timing of the distributed pipeline against the embedded CLI on
// the same machine, in the same run (not a test):
//   bazel build //tests/distributed:pipeline_bench
//   TEST_SRCDIR=bazel-bin/tests/distributed/pipeline_bench.runfiles \
//     bazel-bin/tests/distributed/pipeline_bench SOURCE [SCRATCH_DIR]
// For each mode: first backup, unchanged re-backup, restore. Source files are
// read once beforehand so both modes start with a warm page cache.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "tests/distributed/pipeline_cluster.h"

namespace arca::distributed {
namespace {

namespace stdfs = std::filesystem;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

uint64_t WarmUp(const std::string& root) {
  uint64_t bytes = 0;
  std::string buf(1 << 20, '\0');
  for (const auto& e : stdfs::recursive_directory_iterator(
           root, stdfs::directory_options::skip_permission_denied)) {
    std::error_code ec;
    if (!e.is_regular_file(ec) || e.is_symlink(ec)) continue;
    std::ifstream f(e.path(), std::ios::binary);
    while (f.read(buf.data(), buf.size()) || f.gcount() > 0) bytes += f.gcount();
  }
  return bytes;
}

// User + system CPU seconds of a process so far.
double CpuSeconds(pid_t pid) {
  std::ifstream f(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string> fields = absl::StrSplit(stat.substr(close + 2), ' ');
  if (fields.size() < 13) return 0;
  // After "pid (comm) ": state is field 3; utime 14 and stime 15 (1-based).
  return (std::stod(fields[11]) + std::stod(fields[12])) / sysconf(_SC_CLK_TCK);
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: pipeline_bench SOURCE [SCRATCH_DIR]\n";
    return 2;
  }
  const std::string source = argv[1];
  const std::string scratch = argc > 2 ? argv[2] : "/tmp/arca_pipeline_bench";
  stdfs::remove_all(scratch);
  stdfs::create_directories(scratch);
  setenv("TEST_TMPDIR", scratch.c_str(), 1);
  const uint64_t bytes = WarmUp(source);
  std::cout << absl::StrFormat("source %s: %.1f MiB of file data\n", source, bytes / 1048576.0);

  // --- embedded ---------------------------------------------------------------------
  const std::string erepo = scratch + "/embedded_repo";
  RunProgram({ArcaBinary(), "init", "--repo", erepo});
  double t = Now();
  RunResult e1 = RunProgram({ArcaBinary(), "backup", source, "--repo", erepo, "--host", "bench"});
  const double e1_s = Now() - t;
  t = Now();
  RunResult e2 = RunProgram({ArcaBinary(), "backup", source, "--repo", erepo, "--host", "bench"});
  const double e2_s = Now() - t;
  t = Now();
  RunResult er = RunProgram(
      {ArcaBinary(), "restore", "latest", scratch + "/embedded_restore", "--repo", erepo});
  const double er_s = Now() - t;
  if (e1.exit_code != 0 || e2.exit_code != 0 || er.exit_code != 0) {
    std::cerr << e1.Describe() << e2.Describe() << er.Describe();
    return 1;
  }

  // --- distributed ------------------------------------------------------------------
  ClusterOptions copts{.uploaders = 1, .compressors = 2};
  if (const char* a = getenv("BENCH_UPLOADER_ARGS"))
    copts.uploader_args = absl::StrSplit(a, ' ', absl::SkipEmpty());
  if (const char* a = getenv("BENCH_CHUNKER_ARGS"))
    copts.chunker_args = absl::StrSplit(a, ' ', absl::SkipEmpty());
  copts.collector_args = {"--source-root=" + source};  // besides the scratch directory
  absl::StatusOr<std::unique_ptr<PipelineCluster>> cluster =
      PipelineCluster::Start(scratch + "/distributed_repo", copts);
  if (!cluster.ok()) {
    std::cerr << cluster.status() << "\n";
    return 1;
  }
  PipelineCluster& c = **cluster;
  if (getenv("BENCH_PAUSE") != nullptr) {
    // Time to attach a profiler: perf record -g -p <pids>.
    std::cout << "pids: " << c.collector().pid() << "," << c.chunker().pid() << ","
              << c.compressor(0).pid() << "," << c.compressor(1).pid() << "," << c.uploader(0).pid()
              << std::endl;
    sleep(4);
  }
  v1::BackupPlan plan = c.BackupPlan(source);
  plan.set_host("bench");
  auto cpu = [&] {
    return std::vector<double>{
        CpuSeconds(c.collector().pid()), CpuSeconds(c.chunker().pid()),
        CpuSeconds(c.compressor(0).pid()) + CpuSeconds(c.compressor(1).pid()),
        CpuSeconds(c.uploader(0).pid())};
  };
  std::vector<double> cpu0 = cpu();
  t = Now();
  JobOutcome d1 = c.RunBackup(plan, nullptr, absl::Minutes(30));
  const double d1_s = Now() - t;
  std::vector<double> cpu1 = cpu();
  if (getenv("BENCH_BACKUP_ONLY") != nullptr) {
    std::cout << absl::StrFormat("distributed first backup %.2fs (%s)\n", d1_s,
                                 d1.status.ToString());
    return d1.status.ok() ? 0 : 1;
  }
  t = Now();
  JobOutcome d2 = c.RunBackup(plan, nullptr, absl::Minutes(30));
  const double d2_s = Now() - t;
  t = Now();
  JobOutcome dr =
      c.RunRestore(c.RestorePlan("latest", scratch + "/distributed_restore"), absl::Minutes(30));
  const double dr_s = Now() - t;
  if (!d1.status.ok() || !d2.status.ok() || !dr.status.ok()) {
    std::cerr << d1.Describe() << d2.Describe() << dr.Describe() << c.chunker().Stderr();
    return 1;
  }
  const double mib = bytes / 1048576.0;
  std::cout << absl::StrFormat("%-22s %10s %10s %8s\n", "", "embedded", "distrib.", "ratio");
  auto row = [&](const char* name, double e, double d) {
    std::cout << absl::StrFormat("%-22s %9.2fs %9.2fs %8.2f   (%.0f vs %.0f MiB/s)\n", name, e, d,
                                 e / d, mib / e, mib / d);
  };
  row("first backup", e1_s, d1_s);
  row("unchanged re-backup", e2_s, d2_s);
  row("restore", er_s, dr_s);
  std::cout << absl::StrFormat(
      "first backup CPU seconds: collector %.2f, chunker %.2f, compressors %.2f, uploader %.2f\n",
      cpu1[0] - cpu0[0], cpu1[1] - cpu0[1], cpu1[2] - cpu0[2], cpu1[3] - cpu0[3]);
  std::cout << "distributed first backup stats: " << d1.result->stats().ShortDebugString() << "\n";
  std::cout << "distributed re-backup stats: " << d2.result->stats().ShortDebugString() << "\n";
  stdfs::remove_all(scratch);
  return 0;
}

}  // namespace
}  // namespace arca::distributed

int main(int argc, char** argv) { return arca::distributed::Main(argc, argv); }
