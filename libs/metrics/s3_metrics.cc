#include "libs/metrics/s3_metrics.h"

#include "libs/metrics/registry.h"

namespace arca::metrics {
namespace {

// 1 ms to about 33 s: a small GET on loopback to a PUT on a slow link.
const prometheus::Histogram::BucketBoundaries& S3Buckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30};
  return *b;
}

}  // namespace

S3Metrics::S3Metrics(prometheus::Registry& registry, const std::string& prefix)
    : requests_(
          CounterFamily(registry, prefix + "_requests_total",
                        "S3 request attempts, by operation and HTTP status (0: no response).")),
      duration_(HistogramFamily(registry, prefix + "_request_duration_seconds",
                                "Wall time of each S3 request attempt, by operation.")),
      retries_(CounterFamily(registry, prefix + "_retries_total",
                             "S3 request attempts that failed and were retried, by operation.")),
      sent_(
          CounterFamily(registry, prefix + "_sent_bytes_total", "Body bytes sent to S3.").Add({})),
      received_(
          CounterFamily(registry, prefix + "_received_bytes_total", "Body bytes received from S3.")
              .Add({})) {}

void S3Metrics::OnRequest(const s3::RequestEvent& event) {
  const std::string op(event.op);
  requests_.Add({{"op", op}, {"code", std::to_string(event.http_code)}}).Increment();
  duration_.Add({{"op", op}}, S3Buckets()).Observe(event.seconds);
  if (event.will_retry) retries_.Add({{"op", op}}).Increment();
  sent_.Increment(static_cast<double>(event.bytes_sent));
  received_.Increment(static_cast<double>(event.bytes_received));
}

}  // namespace arca::metrics
