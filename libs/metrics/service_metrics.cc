#include "libs/metrics/service_metrics.h"

#include <string>

#include "libs/base/exit_codes.h"

namespace arca::metrics {
namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;
using prometheus::Registry;

const char* EntryTypeLabel(int type) {
  switch (type) {
    case v1::ENTRY_TYPE_REGULAR:
      return "file";
    case v1::ENTRY_TYPE_DIRECTORY:
      return "directory";
    case v1::ENTRY_TYPE_SYMLINK:
      return "symlink";
    case v1::ENTRY_TYPE_HARDLINK:
      return "hardlink";
    case v1::ENTRY_TYPE_FIFO:
      return "fifo";
    case v1::ENTRY_TYPE_CHAR_DEVICE:
      return "char_device";
    case v1::ENTRY_TYPE_BLOCK_DEVICE:
      return "block_device";
    case v1::ENTRY_TYPE_SOCKET:
      return "socket";
    default:
      return "other";
  }
}

const char* CodecLabel(int index) {
  static constexpr const char* kNames[] = {"none", "zstd", "xz"};
  return kNames[index];
}

PhaseErrorCounters Errors(Registry& r, const std::string& service,
                          const std::vector<v1::Phase>& phases) {
  return PhaseErrorCounters(
      r, "arca_" + service + "_errors_total",
      "Failed " + service + " calls by pipeline phase and exit code (DESIGN.md section 5).",
      PhaseExitsOf(phases));
}

}  // namespace

CollectorMetrics::CollectorMetrics(Registry& r)
    : read_bytes(SimpleCounter(r, "arca_collector_read_bytes_total",
                               "Payload bytes read from source files.")),
      reused_bytes(SimpleCounter(r, "arca_collector_reused_bytes_total",
                                 "Payload bytes not read because metadata change detection "
                                 "reused them from the parent snapshot.")),
      reused_files(SimpleCounter(r, "arca_collector_reused_files_total",
                                 "Files whose content was reused from the parent snapshot.")),
      skipped_files(SimpleCounter(r, "arca_collector_skipped_files_total",
                                  "Source files skipped with a warning (unreadable).")),
      written_bytes(SimpleCounter(r, "arca_collector_written_bytes_total",
                                  "Payload bytes written to restored files (WriteTree).")),
      written_entries(SimpleCounter(r, "arca_collector_written_entries_total",
                                    "Entries created by restores (WriteTree).")),
      streams_running(SimpleGauge(r, "arca_collector_streams_running",
                                  "Collect and WriteTree streams in progress.")),
      errors(Errors(r, "collector", {v1::PHASE_COLLECTION, v1::PHASE_RESTORE})) {
  Family<Counter>& entries =
      CounterFamily(r, "arca_collector_entries_total", "Entries sent to the chunker, by type.");
  for (size_t i = 0; i < entries_.size(); ++i) {
    entries_[i] = &entries.Add({{"type", EntryTypeLabel(static_cast<int>(i))}});
  }
}

Counter& CollectorMetrics::Entries(v1::EntryType type) const {
  const size_t i = static_cast<size_t>(type);
  return *entries_[i < entries_.size() ? i : 0];
}

ChunkerMetrics::ChunkerMetrics(Registry& r)
    : input_bytes(SimpleCounter(r, "arca_chunker_input_bytes_total",
                                "Bytes received for chunking (payload and metadata streams).")),
      chunks(SimpleCounter(r, "arca_chunker_chunks_total", "Chunks cut.")),
      new_chunks(SimpleCounter(r, "arca_chunker_new_chunks_total",
                               "Chunks not yet in the repository (sent to be stored).")),
      new_bytes(SimpleCounter(r, "arca_chunker_new_bytes_total", "Plaintext bytes of new chunks.")),
      deduplicated_bytes(SimpleCounter(r, "arca_chunker_deduplicated_bytes_total",
                                       "Plaintext bytes of chunks already in the repository.")),
      reused_bytes(SimpleCounter(r, "arca_chunker_reused_bytes_total",
                                 "Payload bytes reused from the parent snapshot without "
                                 "chunking (metadata change detection).")),
      padding_bytes(SimpleCounter(r, "arca_chunker_padding_bytes_total",
                                  "Bytes of payload-stream padding written for reused files.")),
      restored_bytes(SimpleCounter(r, "arca_chunker_restored_bytes_total",
                                   "Payload bytes sent to collectors by restores.")),
      chunks_in_flight(SimpleGauge(r, "arca_chunker_chunks_in_flight",
                                   "Chunks cut and not yet acknowledged as stored (queue depth).")),
      streams_running(SimpleGauge(r, "arca_chunker_streams_running",
                                  "RunBackup, RunRestore and Chunk streams in progress.")),
      errors(Errors(r, "chunker",
                    {v1::PHASE_COLLECTION, v1::PHASE_ARCHIVE, v1::PHASE_COMPRESSION,
                     v1::PHASE_UPLOAD, v1::PHASE_COMMIT, v1::PHASE_RESTORE})) {
  Family<Histogram>& phases = HistogramFamily(r, "arca_chunker_phase_duration_seconds",
                                              "Wall time of job phases run by the chunker.");
  Histogram& unspecified = phases.Add({{"phase", "unspecified"}}, JobDurationBuckets());
  for (size_t i = 0; i < phase_duration_.size(); ++i) {
    const auto phase = static_cast<v1::Phase>(i);
    switch (phase) {
      case v1::PHASE_COLLECTION:
      case v1::PHASE_ARCHIVE:
      case v1::PHASE_COMPRESSION:
      case v1::PHASE_UPLOAD:
      case v1::PHASE_COMMIT:
      case v1::PHASE_RESTORE:
        phase_duration_[i] = &phases.Add({{"phase", PhaseName(phase)}}, JobDurationBuckets());
        break;
      default:
        phase_duration_[i] = &unspecified;
    }
  }
}

Histogram& ChunkerMetrics::PhaseDuration(v1::Phase phase) const {
  const size_t i = static_cast<size_t>(phase);
  return *phase_duration_[i < phase_duration_.size() ? i : 0];
}

CompressorMetrics::CompressorMetrics(Registry& r)
    : chunks_in_flight(SimpleGauge(r, "arca_compressor_chunks_in_flight",
                                   "Chunks received and not yet answered (queue depth).")),
      streams_running(SimpleGauge(r, "arca_compressor_streams_running",
                                  "Compress and Decompress streams in progress.")),
      errors(Errors(r, "compressor", {v1::PHASE_COMPRESSION})) {
  Family<Counter>& chunks =
      CounterFamily(r, "arca_compressor_chunks_total", "Chunks processed, by op and codec.");
  Family<Counter>& raw =
      CounterFamily(r, "arca_compressor_raw_bytes_total",
                    "Plaintext bytes: input of compress, output of decompress, by op and codec.");
  Family<Counter>& stored = CounterFamily(
      r, "arca_compressor_stored_bytes_total",
      "Encoded blob bytes: output of compress, input of decompress, by op and codec.");
  Family<Counter>& incompressible =
      CounterFamily(r, "arca_compressor_incompressible_chunks_total",
                    "Chunks stored raw because the requested codec did not shrink them.");
  for (int op = 0; op < 2; ++op) {
    for (int c = 0; c < 3; ++c) {
      const prometheus::Labels labels{{"op", op == 0 ? "compress" : "decompress"},
                                      {"codec", CodecLabel(c)}};
      series_.push_back(CodecSeries{chunks.Add(labels), raw.Add(labels), stored.Add(labels)});
    }
  }
  for (int c = 0; c < 3; ++c) incompressible_[c] = &incompressible.Add({{"codec", CodecLabel(c)}});
}

int CompressorMetrics::CodecIndex(v1::Codec codec) {
  switch (codec) {
    case v1::CODEC_ZSTD:
      return 1;
    case v1::CODEC_XZ:
      return 2;
    default:
      return 0;
  }
}

const CompressorMetrics::CodecSeries& CompressorMetrics::Series(Op op, v1::Codec codec) const {
  return series_[static_cast<int>(op) * 3 + CodecIndex(codec)];
}

Counter& CompressorMetrics::Incompressible(v1::Codec codec) const {
  return *incompressible_[CodecIndex(codec)];
}

UploaderMetrics::UploaderMetrics(Registry& r)
    : written_chunks(SimpleCounter(r, "arca_uploader_written_chunks_total",
                                   "Chunks newly written to the repository.")),
      written_bytes(SimpleCounter(r, "arca_uploader_written_bytes_total",
                                  "Stored (encoded) bytes of chunks newly written.")),
      deduplicated_chunks(SimpleCounter(r, "arca_uploader_deduplicated_chunks_total",
                                        "Chunks received that were already stored.")),
      deduplicated_bytes(SimpleCounter(r, "arca_uploader_deduplicated_bytes_total",
                                       "Stored bytes of chunks received that were already "
                                       "stored (not written again).")),
      read_chunks(SimpleCounter(r, "arca_uploader_read_chunks_total",
                                "Chunks read for restores (GetChunks).")),
      read_bytes(SimpleCounter(r, "arca_uploader_read_bytes_total",
                               "Stored bytes read for restores (GetChunks).")),
      snapshots_committed(SimpleCounter(r, "arca_uploader_snapshots_committed_total",
                                        "Snapshots committed (made visible).")),
      verify_runs(SimpleCounter(r, "arca_uploader_verify_runs_total",
                                "Repository verifications run (Verify).")),
      verify_failures(SimpleCounter(r, "arca_uploader_verify_failures_total",
                                    "Verifications that found corrupt or missing data (exit 8).")),
      verify_problems(SimpleCounter(r, "arca_uploader_verify_problems_total",
                                    "Problems reported by verifications.")),
      chunks_in_flight(SimpleGauge(r, "arca_uploader_chunks_in_flight",
                                   "Chunks received and not yet acknowledged (queue depth).")),
      streams_running(SimpleGauge(r, "arca_uploader_streams_running",
                                  "PutChunks and GetChunks streams in progress.")),
      errors(Errors(
          r, "uploader",
          {v1::PHASE_UPLOAD, v1::PHASE_COMMIT, v1::PHASE_VERIFICATION, v1::PHASE_RESTORE})) {}

OrchestratorMetrics::OrchestratorMetrics(Registry& r)
    : jobs(r),
      queued(GaugeFamily(r, "arca_jobs_queued",
                         "Jobs waiting for a free slot of --max-running-jobs, by type.")) {
  for (const char* type : {"backup", "restore", "verify", "forget", "gc"}) Queued(type);
}

}  // namespace arca::metrics
