// Test support: reading series of a prometheus-cpp registry (by default the
// process registry every arca service records into), for tests that assert
// how much a counter moved.
#ifndef ARCA_LIBS_METRICS_TESTING_H_
#define ARCA_LIBS_METRICS_TESTING_H_

#include <map>
#include <string>

#include "prometheus/registry.h"

namespace arca::metrics::testing {

// The value of the counter or gauge series `name` whose labels are exactly
// `labels` (0 when there is no such series). Histograms and summaries: 0.
double MetricValue(const std::string& name, const std::map<std::string, std::string>& labels = {},
                   const prometheus::Registry* registry = nullptr);  // null: ProcessRegistry()

// Polls (every 10 ms, up to 10 s) until the unlabelled gauge `name` of the
// process registry is `value`: streams end their accounting in OnDone,
// shortly after the client has seen the status. False on timeout.
bool GaugeReaches(const std::string& name, double value);

}  // namespace arca::metrics::testing

#endif  // ARCA_LIBS_METRICS_TESTING_H_
