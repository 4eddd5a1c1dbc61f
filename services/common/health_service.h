// grpc.health.v1.Health for every arca server: one table of serving
// statuses per process (HealthStatusTable), served by one HealthService per
// gRPC server, so the main server and the plaintext --health-listen server
// (server.h) answer the same statuses. Used instead of gRPC's default health
// service, which belongs to one server and cannot be shared.
#ifndef ARCA_SERVICES_COMMON_HEALTH_SERVICE_H_
#define ARCA_SERVICES_COMMON_HEALTH_SERVICE_H_

#include <map>
#include <optional>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace arca::services {

using HealthStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

// Receives the status of one watched service name (HealthStatusTable).
class HealthWatcher {
 public:
  virtual ~HealthWatcher() = default;
  // Called with the table's lock held: must not call back into the table.
  // `final` after Shutdown: no further updates will come.
  virtual void OnHealthStatus(HealthStatus status, bool final) = 0;
};

// The serving status of each known service name ("" = the server as a
// whole). Thread-safe.
class HealthStatusTable {
 public:
  // Sets `service` to SERVING or NOT_SERVING and tells its watchers when it
  // changed. Ignored after Shutdown.
  void Set(const std::string& service, bool serving);
  // The status of `service`, nullopt when it was never set (NOT_FOUND).
  std::optional<HealthStatus> Get(const std::string& service) const;
  // Every known service NOT_SERVING for good (later Sets are ignored); each
  // watcher gets a final NOT_SERVING.
  void Shutdown();

  // Adds `watcher` for `service` and calls it at once with the current status
  // (SERVICE_UNKNOWN when unknown; final when shut down). The watcher must
  // be removed before it is destroyed.
  void AddWatcher(const std::string& service, HealthWatcher* watcher);
  void RemoveWatcher(const std::string& service, HealthWatcher* watcher);

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, HealthStatus> statuses_ ABSL_GUARDED_BY(mu_);
  std::multimap<std::string, HealthWatcher*> watchers_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
};

// grpc.health.v1.Health over a table (not owned; it must outlive the
// service). Check: the status, NOT_FOUND "unknown service NAME" for a name
// never set. Watch: the current status at once (SERVICE_UNKNOWN for an
// unknown name, the call stays open), then every change; after the table's
// Shutdown, a last NOT_SERVING and the stream ends with UNAVAILABLE (so a
// draining server is not held open by watchers). One instance per server.
class HealthService final : public grpc::health::v1::Health::CallbackService {
 public:
  explicit HealthService(HealthStatusTable* table) : table_(table) {}

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const grpc::health::v1::HealthCheckRequest* request,
                                  grpc::health::v1::HealthCheckResponse* response) override;
  grpc::ServerWriteReactor<grpc::health::v1::HealthCheckResponse>* Watch(
      grpc::CallbackServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request) override;

 private:
  HealthStatusTable* table_;
};

}  // namespace arca::services

#endif  // ARCA_SERVICES_COMMON_HEALTH_SERVICE_H_
