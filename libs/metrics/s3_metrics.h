// Metrics of S3 requests (libs/s3): an S3Observer that counts every attempt
// in a Prometheus registry as
//   <prefix>_requests_total{op,code}      attempts by S3 operation and HTTP
//                                         status ("0": no response)
//   <prefix>_request_duration_seconds{op} latency of each attempt
//   <prefix>_retries_total{op}            attempts that were retried
//   <prefix>_sent_bytes_total / <prefix>_received_bytes_total
// The uploader uses prefix "arca_uploader_s3". The label lookup per request
// is cheap next to an HTTP round trip. Thread-safe.
#ifndef ARCA_LIBS_METRICS_S3_METRICS_H_
#define ARCA_LIBS_METRICS_S3_METRICS_H_

#include <string>

#include "libs/s3/s3_client.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace arca::metrics {

class S3Metrics final : public s3::S3Observer {
 public:
  S3Metrics(prometheus::Registry& registry, const std::string& prefix);
  void OnRequest(const s3::RequestEvent& event) override;

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Counter>& retries_;
  prometheus::Counter& sent_;
  prometheus::Counter& received_;
};

}  // namespace arca::metrics

#endif  // ARCA_LIBS_METRICS_S3_METRICS_H_
