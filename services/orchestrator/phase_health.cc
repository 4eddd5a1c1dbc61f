#include "services/orchestrator/phase_health.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/metrics/registry.h"
#include "services/common/server.h"

namespace arca::services {
namespace {

prometheus::Family<prometheus::Gauge>& ReachableFamily() {
  return metrics::GaugeFamily(*metrics::ProcessRegistry(),
                              "arca_orchestrator_phase_replicas_reachable",
                              "Replicas of each configured phase that answered the last health "
                              "check SERVING (0: the orchestrator is NOT_SERVING)");
}

}  // namespace

absl::StatusOr<std::unique_ptr<PhaseHealth>> PhaseHealth::Create(PhaseHealthOptions options) {
  if (options.timeout <= absl::ZeroDuration()) {
    options.timeout = std::min(options.interval, absl::Seconds(5));
  }
  std::unique_ptr<PhaseHealth> health(new PhaseHealth(std::move(options)));
  for (const PhaseHealthOptions::Phase& phase : health->options_.phases) {
    if (phase.addresses.empty()) continue;
    PhaseReplicas replicas;
    replicas.name = std::string(RoleName(phase.role));
    ClientTlsFlags tls = health->options_.tls;
    tls.server_role = phase.role;
    // A replica that comes back is seen within about one interval.
    tls.max_reconnect_backoff = health->options_.interval;
    for (const std::string& address : phase.addresses) {
      absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(address, tls);
      if (!channel.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("health check of ", replicas.name, " ",
                                                       address, ": ", channel.status().message()));
      }
      replicas.replicas.push_back({address, *std::move(channel)});
    }
    ReachableFamily().Add({{"phase", replicas.name}}).Set(0);
    health->phases_.push_back(std::move(replicas));
  }
  return health;
}

PhaseHealth::~PhaseHealth() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void PhaseHealth::Start(std::shared_ptr<HealthStatusTable> table) {
  table_ = std::move(table);
  thread_ = std::thread([this] { Run(); });
}

std::vector<PhaseReachability> PhaseHealth::CheckOnce() {
  // Every replica at once, each on its own thread: a round takes one
  // timeout at most however many replicas are down.
  struct Probe {
    const PhaseReplicas* phase;
    const Replica* replica;
    absl::StatusOr<bool> serving = false;
  };
  std::vector<Probe> probes;
  for (const PhaseReplicas& phase : phases_) {
    for (const Replica& replica : phase.replicas) probes.push_back({&phase, &replica});
  }
  std::vector<std::thread> threads;
  threads.reserve(probes.size());
  for (Probe& probe : probes) {
    threads.emplace_back([&probe, this] {
      probe.serving = CheckServing(probe.replica->channel, "", options_.timeout);
    });
  }
  for (std::thread& t : threads) t.join();
  std::vector<PhaseReachability> out;
  for (const PhaseReplicas& phase : phases_) {
    PhaseReachability r;
    r.phase = phase.name;
    for (const Probe& probe : probes) {
      if (probe.phase != &phase) continue;
      if (probe.serving.ok() && *probe.serving) {
        ++r.reachable;
      } else {
        r.unreachable.push_back(absl::StrCat(
            probe.replica->address, " (",
            probe.serving.ok() ? "NOT_SERVING" : std::string(probe.serving.status().message()),
            ")"));
      }
    }
    ReachableFamily().Add({{"phase", r.phase}}).Set(r.reachable);
    out.push_back(std::move(r));
  }
  return out;
}

void PhaseHealth::Run() {
  std::optional<bool> serving;  // what the table says, as far as this class set it
  while (true) {
    std::vector<PhaseReachability> round = CheckOnce();
    std::vector<std::string> down;
    for (const PhaseReachability& r : round) {
      if (r.reachable == 0) {
        down.push_back(absl::StrCat(r.phase, ": ", absl::StrJoin(r.unreachable, ", ")));
      }
    }
    const bool now_serving = down.empty();
    for (const std::string& name : options_.health_names) table_->Set(name, now_serving);
    if (!serving || *serving != now_serving) {
      // Start-up in the healthy state is not a transition worth a line.
      if (!now_serving) {
        LogLine(options_.program,
                absl::StrCat("NOT_SERVING: no reachable replica of ", absl::StrJoin(down, "; ")));
      } else if (serving) {
        LogLine(options_.program, "SERVING: every configured phase has a reachable replica");
      }
      serving = now_serving;
    }
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithTimeout(absl::Condition(&stop_), options_.interval)) return;
  }
}

}  // namespace arca::services
