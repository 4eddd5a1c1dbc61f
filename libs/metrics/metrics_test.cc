#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/base/phase_status.h"
#include "libs/metrics/job_metrics.h"
#include "libs/metrics/registry.h"
#include "libs/metrics/service_metrics.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace arca::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Text(const prometheus::Registry& r) {
  return prometheus::TextSerializer().Serialize(r.Collect());
}

// Runs `promtool check metrics` on `text`; returns its exit status and output.
int PromtoolCheck(const std::string& text, std::string* output) {
  const std::string dir = std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp";
  const std::string file = dir + "/promtool_input.prom";
  std::ofstream(file) << text;
  FILE* p = popen(("/usr/bin/promtool check metrics < " + file + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) output->append(buf, n);
  return pclose(p);
}

TEST(CatalogTest, EveryCatalogRegistersAndLintsClean) {
  prometheus::Registry r;
  CollectorMetrics collector(r);
  ChunkerMetrics chunker(r);
  CompressorMetrics compressor(r);
  UploaderMetrics uploader(r);
  OrchestratorMetrics orchestrator(r);
  collector.read_bytes.Increment(10);
  chunker.PhaseDuration(v1::PHASE_ARCHIVE).Observe(2);
  compressor.Series(CompressorMetrics::Op::kCompress, v1::CODEC_ZSTD).raw_bytes.Increment(100);
  uploader.snapshots_committed.Increment();
  JobOutcome outcome;
  outcome.type = "backup";
  outcome.group = "home";
  outcome.backup_stats = v1::BackupStats();
  RecordJobResult(orchestrator.jobs, outcome);
  const std::string text = Text(r);
  std::string output;
  EXPECT_EQ(PromtoolCheck(text, &output), 0) << output << "\n" << text;
  EXPECT_EQ(output, "");
  for (const char* name :
       {"arca_collector_read_bytes_total 10", "arca_collector_entries_total{type=\"file\"} 0",
        "arca_chunker_phase_duration_seconds_count{phase=\"archive\"} 1",
        "arca_compressor_raw_bytes_total{codec=\"zstd\",op=\"compress\"} 100",
        "arca_compressor_incompressible_chunks_total{codec=\"xz\"} 0",
        "arca_uploader_snapshots_committed_total 1",
        "arca_uploader_errors_total{exit_code=\"12\",phase=\"upload\"} 0",
        "arca_compressor_errors_total{exit_code=\"11\",phase=\"compression\"} 0",
        "arca_collector_errors_total{exit_code=\"9\",phase=\"collection\"} 0",
        "arca_chunker_errors_total{exit_code=\"10\",phase=\"archive\"} 0",
        "arca_jobs_total{result=\"success\",type=\"backup\"} 1"}) {
    EXPECT_THAT(text, HasSubstr(name));
  }
}

TEST(CatalogTest, SecondCatalogOnSameRegistrySharesSeries) {
  prometheus::Registry r;
  ChunkerMetrics a(r);
  ChunkerMetrics b(r);
  a.input_bytes.Increment(5);
  b.input_bytes.Increment(7);
  EXPECT_EQ(&a.input_bytes, &b.input_bytes);
  EXPECT_THAT(Text(r), HasSubstr("arca_chunker_input_bytes_total 12\n"));
}

TEST(CatalogTest, IndexedAccessorsMapUnknownValuesToTheCatchAllSeries) {
  prometheus::Registry r;
  CollectorMetrics collector(r);
  collector.Entries(v1::ENTRY_TYPE_DIRECTORY).Increment(2);
  collector.Entries(static_cast<v1::EntryType>(99)).Increment();
  CompressorMetrics compressor(r);
  compressor.Series(CompressorMetrics::Op::kDecompress, static_cast<v1::Codec>(42))
      .chunks.Increment();
  compressor.Incompressible(v1::CODEC_XZ).Increment(3);
  ChunkerMetrics chunker(r);
  chunker.PhaseDuration(v1::PHASE_SETUP).Observe(1);
  const std::string text = Text(r);
  EXPECT_THAT(text, HasSubstr("arca_collector_entries_total{type=\"directory\"} 2"));
  EXPECT_THAT(text, HasSubstr("arca_collector_entries_total{type=\"other\"} 1"));
  EXPECT_THAT(text, HasSubstr("arca_compressor_chunks_total{codec=\"none\",op=\"decompress\"} 1"));
  EXPECT_THAT(text, HasSubstr("arca_compressor_incompressible_chunks_total{codec=\"xz\"} 3"));
  EXPECT_THAT(text,
              HasSubstr("arca_chunker_phase_duration_seconds_count{phase=\"unspecified\"} 1"));
}

TEST(PhaseErrorCountersTest, RecordsStatusByAttachedPhaseOrDefault) {
  prometheus::Registry r;
  UploaderMetrics m(r);
  m.errors.Record(WithPhase(absl::UnavailableError("disk gone"), v1::PHASE_COMMIT),
                  v1::PHASE_UPLOAD);
  m.errors.Record(absl::DataLossError("bad blob"), v1::PHASE_UPLOAD);
  m.errors.Record(absl::CancelledError("client left"), v1::PHASE_UPLOAD);
  m.errors.Record(absl::OkStatus(), v1::PHASE_UPLOAD);
  const std::string text = Text(r);
  EXPECT_THAT(text, HasSubstr("arca_uploader_errors_total{exit_code=\"12\",phase=\"commit\"} 1"));
  EXPECT_THAT(text, HasSubstr("arca_uploader_errors_total{exit_code=\"12\",phase=\"upload\"} 1"));
  EXPECT_THAT(text, HasSubstr("arca_uploader_errors_total{exit_code=\"130\",phase=\"upload\"} 1"));
  EXPECT_THAT(text,
              HasSubstr("arca_uploader_errors_total{exit_code=\"8\",phase=\"verification\"} 0"));
}

TEST(GaugeInFlightTest, CountsWhileAlive) {
  prometheus::Registry r;
  CompressorMetrics m(r);
  {
    GaugeInFlight a(m.chunks_in_flight);
    GaugeInFlight b(m.chunks_in_flight);
    EXPECT_EQ(m.chunks_in_flight.Value(), 2);
  }
  EXPECT_EQ(m.chunks_in_flight.Value(), 0);
}

TEST(ScopedTimerTest, ObservesOnce) {
  prometheus::Registry r;
  ChunkerMetrics m(r);
  { ScopedTimer t(m.PhaseDuration(v1::PHASE_RESTORE)); }
  EXPECT_THAT(Text(r),
              HasSubstr("arca_chunker_phase_duration_seconds_count{phase=\"restore\"} 1\n"));
}

TEST(CatalogTest, LeavesRpcSeriesToTheInterceptor) {
  prometheus::Registry r;
  CollectorMetrics collector(r);
  ChunkerMetrics chunker(r);
  CompressorMetrics compressor(r);
  UploaderMetrics uploader(r);
  OrchestratorMetrics orchestrator(r);
  EXPECT_THAT(Text(r), Not(HasSubstr("rpc")));
}

std::chrono::system_clock::time_point At(double seconds) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::duration<double>(seconds)));
}

TEST(JobMetricsTest, PrecreatesAlertSeriesAtZero) {
  prometheus::Registry r;
  JobMetrics m(r);
  const std::string text = Text(r);
  for (const char* series : {"arca_job_failures_total{exit_code=\"9\",phase=\"collection\"} 0",
                             "arca_job_failures_total{exit_code=\"8\",phase=\"verification\"} 0",
                             "arca_job_failures_total{exit_code=\"4\",phase=\"setup\"} 0",
                             "arca_job_failures_total{exit_code=\"12\",phase=\"commit\"} 0",
                             "arca_jobs_total{result=\"failure\",type=\"verify\"} 0",
                             "arca_jobs_total{result=\"cancelled\",type=\"restore\"} 0",
                             "arca_jobs_running{type=\"backup\"} 0"}) {
    EXPECT_THAT(text, HasSubstr(series));
  }
  EXPECT_THAT(text, Not(HasSubstr("arca_last_success_timestamp_seconds{")));
}

TEST(JobMetricsTest, SuccessfulBackupCountsStatsAndSetsGroupGauges) {
  prometheus::Registry r;
  JobMetrics m(r);
  JobOutcome o;
  o.type = "backup";
  o.group = "home";
  o.start = At(1000);
  o.end = At(1060.5);
  v1::BackupStats s;
  s.set_bytes_collected(1000);
  s.set_bytes_new_raw(600);
  s.set_bytes_new_stored(300);
  s.set_bytes_deduplicated(400);
  s.set_bytes_reused(50);
  s.set_padding_bytes(7);
  s.set_files(12);
  s.set_chunks_new(3);
  (*s.mutable_phase_seconds())["upload"] = 2.5;
  (*s.mutable_phase_seconds())["collection_and_archive"] = 9;
  (*s.mutable_phase_seconds())["some/unknown/key"] = 1;
  o.backup_stats = s;
  {
    GaugeInFlight running(m.Running("backup"));
    EXPECT_EQ(m.Running("backup").Value(), 1);
  }
  RecordJobResult(m, o);
  const std::string text = Text(r);
  for (const char* series :
       {"arca_jobs_total{result=\"success\",type=\"backup\"} 1\n",
        "arca_job_collected_bytes_total 1000\n", "arca_job_new_bytes_total 600\n",
        "arca_job_stored_bytes_total 300\n", "arca_job_deduplicated_bytes_total 400\n",
        "arca_job_reused_bytes_total 50\n", "arca_job_padding_bytes_total 7\n",
        "arca_job_files_total 12\n", "arca_job_new_chunks_total 3\n",
        "arca_job_phase_duration_seconds_sum{phase=\"upload\"} 2.5\n",
        "arca_job_phase_duration_seconds_sum{phase=\"collection_and_archive\"} 9\n",
        "arca_job_duration_seconds_sum{type=\"backup\"} 60.5\n",
        "arca_last_success_timestamp_seconds{group=\"home\"} 1060.5\n",
        "arca_last_job_duration_seconds{group=\"home\"} 60.5\n",
        "arca_last_job_exit_code{group=\"home\"} 0\n", "arca_jobs_running{type=\"backup\"} 0\n"}) {
    EXPECT_THAT(text, HasSubstr(series));
  }
  EXPECT_THAT(text, Not(HasSubstr("unknown")));
}

TEST(JobMetricsTest, FailureKeepsLastSuccessAndCountsPhase) {
  prometheus::Registry r;
  JobMetrics m(r);
  JobOutcome ok;
  ok.type = "backup";
  ok.group = "home";
  ok.start = At(100);
  ok.end = At(200);
  RecordJobResult(m, ok);
  JobOutcome failed = ok;
  failed.start = At(300);
  failed.end = At(310);
  failed.exit_code = 9;
  failed.failed_phase = v1::PHASE_COLLECTION;
  RecordJobResult(m, failed);
  JobOutcome verify;
  verify.type = "verify";
  verify.exit_code = 8;  // phase inferred
  RecordJobResult(m, verify);
  JobOutcome cancelled;
  cancelled.type = "restore";
  cancelled.exit_code = 130;
  RecordJobResult(m, cancelled);
  JobOutcome partial = ok;
  partial.exit_code = 3;
  partial.group = "etc";
  partial.end = At(400);
  RecordJobResult(m, partial);
  const std::string text = Text(r);
  for (const char* series : {"arca_jobs_total{result=\"failure\",type=\"backup\"} 1\n",
                             "arca_job_failures_total{exit_code=\"9\",phase=\"collection\"} 1\n",
                             "arca_jobs_total{result=\"failure\",type=\"verify\"} 1\n",
                             "arca_job_failures_total{exit_code=\"8\",phase=\"verification\"} 1\n",
                             "arca_jobs_total{result=\"cancelled\",type=\"restore\"} 1\n",
                             "arca_jobs_total{result=\"partial\",type=\"backup\"} 1\n",
                             "arca_last_success_timestamp_seconds{group=\"home\"} 200\n",
                             "arca_last_success_timestamp_seconds{group=\"etc\"} 400\n",
                             "arca_last_job_exit_code{group=\"home\"} 9\n",
                             "arca_last_job_duration_seconds{group=\"home\"} 10\n"}) {
    EXPECT_THAT(text, HasSubstr(series));
  }
  EXPECT_THAT(text, Not(HasSubstr("exit_code=\"130\"")));
}

TEST(JobMetricsTest, BackupOfUnknownGroupGetsNoGroupGauges) {
  prometheus::Registry r;
  JobMetrics m(r);
  JobOutcome failed;
  failed.type = "backup";
  failed.exit_code = 9;
  failed.failed_phase = v1::PHASE_COLLECTION;
  RecordJobResult(m, failed);
  const std::string text = Text(r);
  EXPECT_THAT(text, HasSubstr("arca_job_failures_total{exit_code=\"9\",phase=\"collection\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("group=\"\"")));
}

TEST(JobMetricsTest, NoteLastSuccessNeverMovesBackwards) {
  prometheus::Registry r;
  JobMetrics m(r);
  NoteLastSuccess(m, "home", At(500));
  NoteLastSuccess(m, "home", At(400));
  EXPECT_THAT(Text(r), HasSubstr("arca_last_success_timestamp_seconds{group=\"home\"} 500\n"));
  NoteLastSuccess(m, "home", At(600));
  EXPECT_THAT(Text(r), HasSubstr("arca_last_success_timestamp_seconds{group=\"home\"} 600\n"));
}

TEST(ProcessRegistryTest, IsOneObject) {
  EXPECT_EQ(ProcessRegistry().get(), ProcessRegistry().get());
  EXPECT_NE(ProcessRegistry().get(), nullptr);
}

}  // namespace
}  // namespace arca::metrics
