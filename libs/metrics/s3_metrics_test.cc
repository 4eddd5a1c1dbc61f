#include "libs/metrics/s3_metrics.h"

#include "gtest/gtest.h"
#include "libs/metrics/testing.h"
#include "prometheus/registry.h"

namespace arca::metrics {
namespace {

using testing::MetricValue;

TEST(S3Metrics, CountsAttemptsByOpAndCodeRetriesAndBytes) {
  prometheus::Registry registry;
  S3Metrics m(registry, "arca_uploader_s3");
  m.OnRequest({.op = "PutObject", .http_code = 200, .seconds = 0.01, .bytes_sent = 100});
  m.OnRequest({.op = "PutObject", .http_code = 503, .seconds = 0.02, .will_retry = true});
  m.OnRequest({.op = "PutObject", .http_code = 412, .seconds = 0.01, .bytes_sent = 50});
  m.OnRequest({.op = "GetObject", .http_code = 0, .seconds = 1.0, .will_retry = true});
  m.OnRequest({.op = "GetObject", .http_code = 200, .seconds = 0.01, .bytes_received = 7});
  auto v = [&](const std::string& name, const std::map<std::string, std::string>& labels) {
    return MetricValue(name, labels, &registry);
  };
  EXPECT_EQ(v("arca_uploader_s3_requests_total", {{"op", "PutObject"}, {"code", "200"}}), 1);
  EXPECT_EQ(v("arca_uploader_s3_requests_total", {{"op", "PutObject"}, {"code", "503"}}), 1);
  EXPECT_EQ(v("arca_uploader_s3_requests_total", {{"op", "PutObject"}, {"code", "412"}}), 1);
  EXPECT_EQ(v("arca_uploader_s3_requests_total", {{"op", "GetObject"}, {"code", "0"}}), 1);
  EXPECT_EQ(v("arca_uploader_s3_retries_total", {{"op", "PutObject"}}), 1);
  EXPECT_EQ(v("arca_uploader_s3_retries_total", {{"op", "GetObject"}}), 1);
  EXPECT_EQ(v("arca_uploader_s3_sent_bytes_total", {}), 150);
  EXPECT_EQ(v("arca_uploader_s3_received_bytes_total", {}), 7);
  // The histogram: one family with a series per op.
  bool found = false;
  for (const prometheus::MetricFamily& f : registry.Collect()) {
    if (f.name != "arca_uploader_s3_request_duration_seconds") continue;
    found = true;
    ASSERT_EQ(f.metric.size(), 2u);
    for (const prometheus::ClientMetric& c : f.metric) EXPECT_GE(c.histogram.sample_count, 2u);
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace arca::metrics
