#include "libs/metrics/registry.h"

#include <string>

#include "libs/base/exit_codes.h"
#include "libs/base/phase_status.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"

namespace arca::metrics {

const std::shared_ptr<prometheus::Registry>& ProcessRegistry() {
  static const auto* registry =
      new std::shared_ptr<prometheus::Registry>(std::make_shared<prometheus::Registry>());
  return *registry;
}

const prometheus::Histogram::BucketBoundaries& JobDurationBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.1, 1, 5, 15, 60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 16 * 3600};
  return *buckets;
}

const std::vector<PhaseExit>& AllPhaseExits() {
  static const auto* pairs = new std::vector<PhaseExit>{
      {v1::PHASE_UNSPECIFIED, 1}, {v1::PHASE_SETUP, 1},        {v1::PHASE_SETUP, 2},
      {v1::PHASE_SETUP, 4},       {v1::PHASE_SETUP, 5},        {v1::PHASE_COLLECTION, 9},
      {v1::PHASE_ARCHIVE, 10},    {v1::PHASE_COMPRESSION, 11}, {v1::PHASE_UPLOAD, 12},
      {v1::PHASE_COMMIT, 12},     {v1::PHASE_VERIFICATION, 8}, {v1::PHASE_RESTORE, 13},
  };
  return *pairs;
}

std::vector<PhaseExit> PhaseExitsOf(const std::vector<v1::Phase>& phases) {
  std::vector<PhaseExit> out;
  for (const PhaseExit& pair : AllPhaseExits()) {
    for (v1::Phase p : phases) {
      if (pair.phase == p) out.push_back(pair);
    }
  }
  return out;
}

prometheus::Family<prometheus::Counter>& CounterFamily(prometheus::Registry& registry,
                                                       const std::string& name,
                                                       const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Gauge>& GaugeFamily(prometheus::Registry& registry,
                                                   const std::string& name,
                                                   const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Histogram>& HistogramFamily(prometheus::Registry& registry,
                                                           const std::string& name,
                                                           const std::string& help) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(registry);
}

prometheus::Counter& SimpleCounter(prometheus::Registry& registry, const std::string& name,
                                   const std::string& help) {
  return CounterFamily(registry, name, help).Add({});
}

prometheus::Gauge& SimpleGauge(prometheus::Registry& registry, const std::string& name,
                               const std::string& help) {
  return GaugeFamily(registry, name, help).Add({});
}

PhaseErrorCounters::PhaseErrorCounters(prometheus::Registry& registry, const std::string& name,
                                       const std::string& help,
                                       const std::vector<PhaseExit>& precreate)
    : family_(CounterFamily(registry, name, help)) {
  for (const PhaseExit& pair : precreate) Get(pair.phase, pair.exit_code);
}

prometheus::Counter& PhaseErrorCounters::Get(v1::Phase phase, int exit_code) {
  return family_.Add({{"phase", PhaseName(phase)}, {"exit_code", std::to_string(exit_code)}});
}

void PhaseErrorCounters::Record(v1::Phase phase, int exit_code) {
  Get(phase, exit_code).Increment();
}

void PhaseErrorCounters::Record(const absl::Status& status, v1::Phase default_phase) {
  if (status.ok()) return;
  // The failure happened in this service: its phase unless one is attached,
  // then the exit-code policy (phase_status.h).
  const absl::Status phased = WithPhase(status, default_phase);
  Record(FailedPhaseOf(phased), static_cast<int>(ExitCodeOf(phased)));
}

}  // namespace arca::metrics
