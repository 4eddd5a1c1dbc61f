// The orchestrator's readiness: whether every configured phase (collector,
// chunker, compressor, uploader) has at least one replica that answers a
// health check. A PhaseHealth probes every replica with
// grpc.health.v1.Health/Check (service "") every interval and sets the
// orchestrator's health statuses (HealthStatusTable: "" and
// "arca.v1.Orchestrator", served on the main and the --health-listen
// server) to NOT_SERVING while some configured phase has no replica that
// answers SERVING, SERVING otherwise. Each transition is logged once,
// naming the phases and addresses that were not reachable. The gauge
// arca_orchestrator_phase_replicas_reachable{phase} (process registry) holds
// the count of the last round.
//
// Thread-safety: Start and the destructor from one thread; the probing runs
// on the object's own thread.
#ifndef ARCA_SERVICES_ORCHESTRATOR_PHASE_HEALTH_H_
#define ARCA_SERVICES_ORCHESTRATOR_PHASE_HEALTH_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "services/common/authorization.h"
#include "services/common/client_channel.h"
#include "services/common/health_service.h"

namespace arca::services {

struct PhaseHealthOptions {
  struct Phase {
    Role role;                           // its name is the metric label
    std::vector<std::string> addresses;  // empty: phase not configured, ignored
  };
  std::vector<Phase> phases;
  ClientTlsFlags tls;  // as the orchestrator calls the phases (server_role set per phase)
  absl::Duration interval = absl::Seconds(10);
  // Deadline of one check; zero: min(interval, 5 s).
  absl::Duration timeout = absl::ZeroDuration();
  // The names set in the table; the orchestrator's are "" and
  // "arca.v1.Orchestrator".
  std::vector<std::string> health_names;
  std::string program;  // log line prefix
};

// One round's finding.
struct PhaseReachability {
  std::string phase;
  int reachable = 0;
  std::vector<std::string> unreachable;  // "ADDR (reason)"
};

class PhaseHealth {
 public:
  // Makes one channel per replica (reconnecting at least every interval).
  // Errors: those of MakeChannel (InvalidArgument naming the address).
  static absl::StatusOr<std::unique_ptr<PhaseHealth>> Create(PhaseHealthOptions options);

  // Stops the probing (waits for the round in progress, at most one timeout).
  ~PhaseHealth();
  PhaseHealth(const PhaseHealth&) = delete;
  PhaseHealth& operator=(const PhaseHealth&) = delete;

  // Starts probing into `table`: one round now, then one every interval.
  // Call at most once.
  void Start(std::shared_ptr<HealthStatusTable> table);

  // One round without touching a table or logging: every configured phase
  // with its reachable count (updates the gauge). Blocks up to one timeout.
  std::vector<PhaseReachability> CheckOnce();

 private:
  struct Replica {
    std::string address;
    std::shared_ptr<grpc::Channel> channel;
  };
  struct PhaseReplicas {
    std::string name;
    std::vector<Replica> replicas;
  };

  explicit PhaseHealth(PhaseHealthOptions options) : options_(std::move(options)) {}
  void Run();

  PhaseHealthOptions options_;
  std::vector<PhaseReplicas> phases_;
  std::shared_ptr<HealthStatusTable> table_;
  std::thread thread_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace arca::services

#endif  // ARCA_SERVICES_ORCHESTRATOR_PHASE_HEALTH_H_
