#include "libs/metrics/testing.h"

#include <chrono>
#include <thread>

#include "libs/metrics/registry.h"

namespace arca::metrics::testing {

double MetricValue(const std::string& name, const std::map<std::string, std::string>& labels,
                   const prometheus::Registry* registry) {
  if (registry == nullptr) registry = ProcessRegistry().get();
  for (const prometheus::MetricFamily& family : registry->Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      std::map<std::string, std::string> have;
      for (const auto& label : metric.label) have[label.name] = label.value;
      if (have != labels) continue;
      switch (family.type) {
        case prometheus::MetricType::Gauge:
          return metric.gauge.value;
        case prometheus::MetricType::Counter:
          return metric.counter.value;
        default:
          return 0;
      }
    }
  }
  return 0;
}

bool GaugeReaches(const std::string& name, double value) {
  for (int i = 0; i < 1000; ++i) {
    if (MetricValue(name) == value) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace arca::metrics::testing
