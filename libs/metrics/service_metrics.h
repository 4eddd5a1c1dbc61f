// The metric catalogs of the four pipeline services (DESIGN.md §8; the table
// is in libs/metrics/README.md). Each struct registers its families on
// construction and keeps references to every series a hot path touches, so
// counting a chunk is one atomic add: `metrics.input_bytes.Increment(n)`.
//
// RPC counts and durations (arca_<service>_rpcs_total{method,code},
// arca_<service>_rpc_duration_seconds{method}) are not here: the server
// interceptor of services/common/rpc_metrics.h records them for every method.
//
// Construct one per process on metrics::ProcessRegistry() (constructing a
// second one on the same registry is harmless: it finds the same series).
// All members are thread-safe; the struct must outlive its users and the
// registry must outlive the struct.
#ifndef ARCA_LIBS_METRICS_SERVICE_METRICS_H_
#define ARCA_LIBS_METRICS_SERVICE_METRICS_H_

#include <array>
#include <vector>

#include "arca/v1/common.pb.h"
#include "libs/metrics/job_metrics.h"
#include "libs/metrics/registry.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace arca::metrics {

// arca_collector_*: walks sources (Collect) and writes restored trees (WriteTree).
struct CollectorMetrics {
  explicit CollectorMetrics(prometheus::Registry& registry);

  // arca_collector_entries_total{type}: entries sent (type: file, directory,
  // symlink, hardlink, fifo, char_device, block_device, socket, other).
  prometheus::Counter& Entries(v1::EntryType type) const;

  prometheus::Counter& read_bytes;       // arca_collector_read_bytes_total
  prometheus::Counter& reused_bytes;     // arca_collector_reused_bytes_total
  prometheus::Counter& reused_files;     // arca_collector_reused_files_total
  prometheus::Counter& skipped_files;    // arca_collector_skipped_files_total
  prometheus::Counter& written_bytes;    // arca_collector_written_bytes_total
  prometheus::Counter& written_entries;  // arca_collector_written_entries_total
  prometheus::Gauge& streams_running;    // arca_collector_streams_running
  PhaseErrorCounters errors;             // arca_collector_errors_total{phase,exit_code}

 private:
  std::array<prometheus::Counter*, 9> entries_;  // by v1::EntryType
};

// arca_chunker_*: chunks payload/metadata streams, coordinates backup and
// restore jobs (RunBackup / RunRestore) and chunks for others (Chunk).
struct ChunkerMetrics {
  explicit ChunkerMetrics(prometheus::Registry& registry);

  // arca_chunker_phase_duration_seconds{phase}; phases other than
  // collection, archive, compression, upload, commit, restore map to
  // "unspecified".
  prometheus::Histogram& PhaseDuration(v1::Phase phase) const;

  prometheus::Counter& input_bytes;         // arca_chunker_input_bytes_total
  prometheus::Counter& chunks;              // arca_chunker_chunks_total
  prometheus::Counter& new_chunks;          // arca_chunker_new_chunks_total
  prometheus::Counter& new_bytes;           // arca_chunker_new_bytes_total
  prometheus::Counter& deduplicated_bytes;  // arca_chunker_deduplicated_bytes_total
  prometheus::Counter& reused_bytes;        // arca_chunker_reused_bytes_total
  prometheus::Counter& padding_bytes;       // arca_chunker_padding_bytes_total
  prometheus::Counter& restored_bytes;      // arca_chunker_restored_bytes_total
  prometheus::Gauge& chunks_in_flight;      // arca_chunker_chunks_in_flight
  prometheus::Gauge& streams_running;       // arca_chunker_streams_running
  PhaseErrorCounters errors;                // arca_chunker_errors_total{phase,exit_code}

 private:
  std::array<prometheus::Histogram*, 9> phase_duration_;  // by v1::Phase
};

// arca_compressor_*: Compress (raw → blob) and Decompress (blob → raw).
struct CompressorMetrics {
  enum class Op { kCompress = 0, kDecompress = 1 };

  // The series of one direction and codec. `raw_bytes` is the plaintext
  // side, `stored_bytes` the encoded blob side, whatever the direction, so
  // the compression ratio is
  //   rate(arca_compressor_stored_bytes_total{op="compress"}[5m])
  //   / rate(arca_compressor_raw_bytes_total{op="compress"}[5m]).
  struct CodecSeries {
    prometheus::Counter& chunks;        // arca_compressor_chunks_total{op,codec}
    prometheus::Counter& raw_bytes;     // arca_compressor_raw_bytes_total{op,codec}
    prometheus::Counter& stored_bytes;  // arca_compressor_stored_bytes_total{op,codec}
  };

  explicit CompressorMetrics(prometheus::Registry& registry);

  // For Compress, `codec` is the requested codec (a chunk stored raw because
  // it did not shrink still counts under the requested codec); for
  // Decompress, the blob's codec. Unknown values map to "none".
  const CodecSeries& Series(Op op, v1::Codec codec) const;
  // arca_compressor_incompressible_chunks_total{codec}: chunks stored raw
  // because compressing them with `codec` did not make them smaller.
  prometheus::Counter& Incompressible(v1::Codec codec) const;

  prometheus::Gauge& chunks_in_flight;  // arca_compressor_chunks_in_flight
  prometheus::Gauge& streams_running;   // arca_compressor_streams_running
  PhaseErrorCounters errors;            // arca_compressor_errors_total{phase,exit_code}

 private:
  static int CodecIndex(v1::Codec codec);  // none 0, zstd 1, xz 2
  std::vector<CodecSeries> series_;        // [op * 3 + codec index]
  std::array<prometheus::Counter*, 3> incompressible_;
};

// arca_uploader_*: owns the repository.
struct UploaderMetrics {
  explicit UploaderMetrics(prometheus::Registry& registry);

  prometheus::Counter& written_chunks;  // arca_uploader_written_chunks_total
  prometheus::Counter& written_bytes;   // arca_uploader_written_bytes_total (stored blob bytes)
  prometheus::Counter& deduplicated_chunks;  // arca_uploader_deduplicated_chunks_total
  prometheus::Counter& deduplicated_bytes;   // arca_uploader_deduplicated_bytes_total
  prometheus::Counter& read_chunks;          // arca_uploader_read_chunks_total (GetChunks)
  prometheus::Counter& read_bytes;           // arca_uploader_read_bytes_total
  prometheus::Counter& snapshots_committed;  // arca_uploader_snapshots_committed_total
  prometheus::Counter& verify_runs;          // arca_uploader_verify_runs_total
  prometheus::Counter& verify_failures;      // arca_uploader_verify_failures_total (exit 8)
  prometheus::Counter& verify_problems;      // arca_uploader_verify_problems_total
  prometheus::Gauge& chunks_in_flight;       // arca_uploader_chunks_in_flight
  prometheus::Gauge& streams_running;        // arca_uploader_streams_running
  PhaseErrorCounters errors;                 // arca_uploader_errors_total{phase,exit_code}
};

// arca_orchestrator_*: the job API. The job series themselves
// (arca_jobs_total, arca_last_success_timestamp_seconds, ...) are `jobs`,
// the same catalog the embedded CLI writes to its textfile.
struct OrchestratorMetrics {
  explicit OrchestratorMetrics(prometheus::Registry& registry);

  JobMetrics jobs;
  // arca_jobs_queued{type}: jobs waiting for --max-running-jobs (QUEUED).
  prometheus::Family<prometheus::Gauge>& queued;
  prometheus::Gauge& Queued(const std::string& type) const { return queued.Add({{"type", type}}); }
};

// RAII: +1 on a gauge for the lifetime of the object (streams running,
// chunks in flight). Not copyable; the gauge is thread-safe.
class GaugeInFlight {
 public:
  explicit GaugeInFlight(prometheus::Gauge& gauge) : gauge_(gauge) { gauge_.Increment(); }
  ~GaugeInFlight() { gauge_.Decrement(); }
  GaugeInFlight(const GaugeInFlight&) = delete;
  GaugeInFlight& operator=(const GaugeInFlight&) = delete;

 private:
  prometheus::Gauge& gauge_;
};

}  // namespace arca::metrics

#endif  // ARCA_LIBS_METRICS_SERVICE_METRICS_H_
