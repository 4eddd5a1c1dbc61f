// Shared pieces of the arca metric catalogs (DESIGN.md §8, libs/metrics/README.md):
// the one registry of a process, bucket layouts, a scoped timer, and the
// `errors_total{phase,exit_code}` counters every catalog carries.
//
// Cost model: the catalogs hand out `prometheus::Counter&` / `Gauge&` /
// `Histogram&` resolved once at construction, so a hot path pays one atomic
// add (a counter) or a bucket search plus two atomic adds (a histogram); no
// label hashing or map lookup happens per chunk. Label lookups happen only on
// error paths (PhaseErrorCounters::Record) and once per job.
#ifndef ARCA_LIBS_METRICS_REGISTRY_H_
#define ARCA_LIBS_METRICS_REGISTRY_H_

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "arca/v1/common.pb.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace arca::metrics {

// The registry of this process: every catalog of a binary registers here and
// the /metrics endpoint (services/common/metrics_server.h) or the textfile
// writer (libs/metrics/textfile.h) exports it. Created on first use, never
// destroyed (so metric references stay valid during static destruction).
// Thread-safe.
const std::shared_ptr<prometheus::Registry>& ProcessRegistry();

// Bucket upper bounds, in seconds, of phase and job durations: 0.1 s to 16 h.
const prometheus::Histogram::BucketBoundaries& JobDurationBuckets();

// Observes the seconds between construction and destruction (steady clock)
// into `histogram`. Not thread-safe itself (one owner); the histogram is.
class ScopedTimer {
 public:
  explicit ScopedTimer(prometheus::Histogram& histogram)
      : histogram_(histogram), start_(std::chrono::steady_clock::now()) {}
  ~ScopedTimer() {
    histogram_.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  }
  ScopedTimer(const ScopedTimer&) = delete;
  ScopedTimer& operator=(const ScopedTimer&) = delete;

 private:
  prometheus::Histogram& histogram_;
  std::chrono::steady_clock::time_point start_;
};

// One (phase, exit code) pair, e.g. {PHASE_COLLECTION, 9}.
struct PhaseExit {
  v1::Phase phase;
  int exit_code;
};

// The usual pairs of each phase under the exit-code policy (ExitCodeOf,
// libs/base/phase_status.h; cancellation, 130, excluded): setup 1/2/4/5,
// collection 9, archive 10, compression 11, upload 12, commit 12,
// verification 8, restore 13, unspecified 1. Rarer pairs (restore 8:
// corrupt data met by a restore) are created on first use.
const std::vector<PhaseExit>& AllPhaseExits();

// Just the pairs of `phases` from AllPhaseExits().
std::vector<PhaseExit> PhaseExitsOf(const std::vector<v1::Phase>& phases);

// A counter family labelled {phase, exit_code} (phase: PhaseName, e.g.
// "collection"; exit_code: decimal, e.g. "9"). The pairs passed at
// construction exist at 0 from the start so alerts using increase() see the
// first failure. Thread-safe.
class PhaseErrorCounters {
 public:
  PhaseErrorCounters(prometheus::Registry& registry, const std::string& name,
                     const std::string& help, const std::vector<PhaseExit>& precreate);

  // Counts one failure. Looks the label pair up (error path only).
  void Record(v1::Phase phase, int exit_code);
  // Counts a failed status: phase from PhaseOf(status), or `default_phase`
  // when none is attached; exit code from ExitCodeOf (libs/base/
  // phase_status.h) of the status with that phase: 130 when cancelled, 2 / 4
  // / 5 for setup failures, 8 for DATA_LOSS in restore or verification, else
  // the phase's code. OK statuses are not counted.
  void Record(const absl::Status& status, v1::Phase default_phase);

  prometheus::Counter& Get(v1::Phase phase, int exit_code);

 private:
  prometheus::Family<prometheus::Counter>& family_;
};

// Registers (or finds, when already registered with the same name) a family.
prometheus::Family<prometheus::Counter>& CounterFamily(prometheus::Registry& registry,
                                                       const std::string& name,
                                                       const std::string& help);
prometheus::Family<prometheus::Gauge>& GaugeFamily(prometheus::Registry& registry,
                                                   const std::string& name,
                                                   const std::string& help);
prometheus::Family<prometheus::Histogram>& HistogramFamily(prometheus::Registry& registry,
                                                           const std::string& name,
                                                           const std::string& help);

// A single unlabelled series of a new family.
prometheus::Counter& SimpleCounter(prometheus::Registry& registry, const std::string& name,
                                   const std::string& help);
prometheus::Gauge& SimpleGauge(prometheus::Registry& registry, const std::string& name,
                               const std::string& help);

}  // namespace arca::metrics

#endif  // ARCA_LIBS_METRICS_REGISTRY_H_
