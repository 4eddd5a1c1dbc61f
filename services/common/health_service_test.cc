#include "services/common/health_service.h"

#include <vector>

#include "gtest/gtest.h"

namespace arca::services {
namespace {

using grpc::health::v1::HealthCheckResponse;

struct Recorder final : HealthWatcher {
  void OnHealthStatus(HealthStatus status, bool final) override {
    seen.push_back(status);
    finals += final ? 1 : 0;
  }
  std::vector<HealthStatus> seen;
  int finals = 0;
};

TEST(HealthStatusTable, UnknownUntilSetThenEveryChangeOnce) {
  HealthStatusTable table;
  EXPECT_EQ(table.Get("arca.v1.Chunker"), std::nullopt);
  Recorder r;
  table.AddWatcher("arca.v1.Chunker", &r);
  table.Set("arca.v1.Chunker", true);
  table.Set("arca.v1.Chunker", true);  // no change: not repeated
  table.Set("", false);                // another name: not seen
  table.Set("arca.v1.Chunker", false);
  EXPECT_EQ(table.Get("arca.v1.Chunker"), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(table.Get(""), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(r.seen, (std::vector<HealthStatus>{HealthCheckResponse::SERVICE_UNKNOWN,
                                               HealthCheckResponse::SERVING,
                                               HealthCheckResponse::NOT_SERVING}));
  EXPECT_EQ(r.finals, 0);
  table.RemoveWatcher("arca.v1.Chunker", &r);
  table.Set("arca.v1.Chunker", true);
  EXPECT_EQ(r.seen.size(), 3u);
}

TEST(HealthStatusTable, ShutdownIsNotServingForGood) {
  HealthStatusTable table;
  table.Set("", true);
  table.Set("arca.v1.Orchestrator", true);
  Recorder r;
  table.AddWatcher("", &r);
  table.Shutdown();
  EXPECT_EQ(table.Get(""), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(table.Get("arca.v1.Orchestrator"), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(r.seen.back(), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(r.finals, 1);
  table.Set("", true);  // e.g. a late phase health round: ignored
  EXPECT_EQ(table.Get(""), HealthCheckResponse::NOT_SERVING);
  Recorder late;
  table.AddWatcher("", &late);
  EXPECT_EQ(late.seen, std::vector<HealthStatus>{HealthCheckResponse::NOT_SERVING});
  EXPECT_EQ(late.finals, 1);
  table.RemoveWatcher("", &r);
  table.RemoveWatcher("", &late);
}

}  // namespace
}  // namespace arca::services
