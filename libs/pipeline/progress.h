// Live progress of one backup, restore or verify: counters the pipeline
// bumps as it goes and a display samples from another thread (the CLI's
// progress line, tools/arca/progress_display.h).
//
// Thread-safety: every method may be called from any thread at any time.
// Each update is one relaxed atomic operation (no locks, no allocation), so
// the hot paths (one update per file or per chunk) pay nothing measurable.
// A Read() is a set of relaxed loads, not an atomic snapshot: counters may
// be a few updates apart from each other, each is exact on its own, and all
// are final once the run that fills them has returned.
#ifndef ARCA_LIBS_PIPELINE_PROGRESS_H_
#define ARCA_LIBS_PIPELINE_PROGRESS_H_

#include <atomic>
#include <cstdint>

#include "arca/v1/common.pb.h"

namespace arca {

// One reading of a Progress.
struct ProgressSample {
  v1::Phase phase = v1::PHASE_UNSPECIFIED;
  // Backup: regular files stored (read or reused; = BackupStats.files at the
  // end). Restore: regular files written. Verify: 0 (see chunks_done).
  uint64_t files_done = 0;
  // Backup: file data collected (= BackupStats.bytes_collected at the end).
  // Restore: file data written (= RestoreResult.bytes). Verify: plaintext
  // chunk bytes checked (= VerifyResult.bytes).
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;  // 0 = unknown; an estimate, may be exceeded
  uint64_t files_total = 0;  // 0 = unknown
  uint64_t entries = 0;      // metadata entries stored / restored / parsed
  uint64_t chunks_done = 0;  // verify: unique chunks checked
  uint64_t chunks_total = 0;
  uint64_t warnings = 0;  // warnings so far (backup, restore) or problems (verify)
  bool done = false;      // the run returned
};

class Progress {
 public:
  Progress() = default;
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void SetPhase(v1::Phase phase) { phase_.store(static_cast<int>(phase), kOrder); }
  void AddFiles(uint64_t n = 1) { files_done_.fetch_add(n, kOrder); }
  void AddBytes(uint64_t n) { bytes_done_.fetch_add(n, kOrder); }
  // Takes back bytes counted for a read that is retried or abandoned.
  void SubtractBytes(uint64_t n) { bytes_done_.fetch_sub(n, kOrder); }
  void AddEntries(uint64_t n = 1) { entries_.fetch_add(n, kOrder); }
  void AddChunks(uint64_t n = 1) { chunks_done_.fetch_add(n, kOrder); }
  void AddWarnings(uint64_t n = 1) { warnings_.fetch_add(n, kOrder); }
  void SetBytesTotal(uint64_t n) { bytes_total_.store(n, kOrder); }
  void SetFilesTotal(uint64_t n) { files_total_.store(n, kOrder); }
  void SetChunksTotal(uint64_t n) { chunks_total_.store(n, kOrder); }
  // Absolute values, for counters relayed from elsewhere (remote mode: the
  // orchestrator's progress events).
  void SetFiles(uint64_t n) { files_done_.store(n, kOrder); }
  void SetBytes(uint64_t n) { bytes_done_.store(n, kOrder); }
  void SetWarnings(uint64_t n) { warnings_.store(n, kOrder); }
  void SetEntries(uint64_t n) { entries_.store(n, kOrder); }
  void SetChunks(uint64_t n) { chunks_done_.store(n, kOrder); }
  // The run has returned: counters are final. Release, so a reader that
  // sees done also sees the final counters.
  void MarkDone() { done_.store(true, std::memory_order_release); }

  ProgressSample Read() const;

 private:
  static constexpr std::memory_order kOrder = std::memory_order_relaxed;
  std::atomic<int> phase_{0};
  std::atomic<uint64_t> files_done_{0};
  std::atomic<uint64_t> bytes_done_{0};
  std::atomic<uint64_t> bytes_total_{0};
  std::atomic<uint64_t> files_total_{0};
  std::atomic<uint64_t> entries_{0};
  std::atomic<uint64_t> chunks_done_{0};
  std::atomic<uint64_t> chunks_total_{0};
  std::atomic<uint64_t> warnings_{0};
  std::atomic<bool> done_{false};
};

// A run's hold on its (optional) Progress: sets the first phase at the
// start and marks the progress done when the run returns, whichever way.
class ProgressRun {
 public:
  ProgressRun(Progress* progress, v1::Phase first_phase) : progress_(progress) {
    if (progress_ != nullptr) progress_->SetPhase(first_phase);
  }
  ~ProgressRun() {
    if (progress_ != nullptr) progress_->MarkDone();
  }
  ProgressRun(const ProgressRun&) = delete;
  ProgressRun& operator=(const ProgressRun&) = delete;

 private:
  Progress* const progress_;
};

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_PROGRESS_H_
