#include "services/common/health_service.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace arca::services {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

void HealthStatusTable::Set(const std::string& service, bool serving) {
  const HealthStatus status =
      serving ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
  absl::MutexLock lock(&mu_);
  if (shutdown_) return;
  auto [it, inserted] = statuses_.try_emplace(service, status);
  if (!inserted && it->second == status) return;
  it->second = status;
  auto [begin, end] = watchers_.equal_range(service);
  for (auto w = begin; w != end; ++w) w->second->OnHealthStatus(status, false);
}

std::optional<HealthStatus> HealthStatusTable::Get(const std::string& service) const {
  absl::MutexLock lock(&mu_);
  auto it = statuses_.find(service);
  if (it == statuses_.end()) return std::nullopt;
  return it->second;
}

void HealthStatusTable::Shutdown() {
  absl::MutexLock lock(&mu_);
  if (shutdown_) return;
  shutdown_ = true;
  for (auto& [service, status] : statuses_) status = HealthCheckResponse::NOT_SERVING;
  for (auto& [service, watcher] : watchers_) {
    watcher->OnHealthStatus(HealthCheckResponse::NOT_SERVING, true);
  }
}

void HealthStatusTable::AddWatcher(const std::string& service, HealthWatcher* watcher) {
  absl::MutexLock lock(&mu_);
  watchers_.emplace(service, watcher);
  auto it = statuses_.find(service);
  if (shutdown_) {
    watcher->OnHealthStatus(HealthCheckResponse::NOT_SERVING, true);
  } else {
    watcher->OnHealthStatus(
        it == statuses_.end() ? HealthCheckResponse::SERVICE_UNKNOWN : it->second, false);
  }
}

void HealthStatusTable::RemoveWatcher(const std::string& service, HealthWatcher* watcher) {
  absl::MutexLock lock(&mu_);
  auto [begin, end] = watchers_.equal_range(service);
  for (auto w = begin; w != end; ++w) {
    if (w->second == watcher) {
      watchers_.erase(w);
      return;
    }
  }
}

grpc::ServerUnaryReactor* HealthService::Check(grpc::CallbackServerContext* context,
                                               const HealthCheckRequest* request,
                                               HealthCheckResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::optional<HealthStatus> status = table_->Get(request->service());
  if (!status) {
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                 absl::StrCat("unknown service '", request->service(), "'")));
  } else {
    response->set_status(*status);
    reactor->Finish(grpc::Status::OK);
  }
  return reactor;
}

namespace {

// One Watch call: one write in flight; a status that changes while a write
// is in flight is sent after it (only the newest one).
class WatchReactor final : public grpc::ServerWriteReactor<HealthCheckResponse>,
                           public HealthWatcher {
 public:
  WatchReactor(HealthStatusTable* table, std::string service)
      : table_(table), service_(std::move(service)) {
    table_->AddWatcher(service_, this);
  }

  void OnHealthStatus(HealthStatus status, bool final) override {
    absl::MutexLock lock(&mu_);
    if (done_) return;
    pending_ = status;
    final_ = final_ || final;
    MaybeWriteLocked();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "health watch write failed"));
      return;
    }
    MaybeWriteLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    FinishLocked(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    table_->RemoveWatcher(service_, this);
    delete this;
  }

 private:
  void MaybeWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (done_ || writing_) return;
    if (pending_) {
      response_.set_status(*pending_);
      pending_.reset();
      if (final_) {
        done_ = true;
        StartWriteAndFinish(&response_, grpc::WriteOptions(),
                            grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down"));
        return;
      }
      writing_ = true;
      StartWrite(&response_);
    } else if (final_) {
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down"));
    }
  }

  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (done_) return;
    done_ = true;
    Finish(std::move(status));
  }

  HealthStatusTable* const table_;
  const std::string service_;
  absl::Mutex mu_;
  HealthCheckResponse response_ ABSL_GUARDED_BY(mu_);  // alive until OnWriteDone
  std::optional<HealthStatus> pending_ ABSL_GUARDED_BY(mu_);
  bool final_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;  // Finish called
};

}  // namespace

grpc::ServerWriteReactor<HealthCheckResponse>* HealthService::Watch(
    grpc::CallbackServerContext* context, const HealthCheckRequest* request) {
  (void)context;
  return new WatchReactor(table_, request->service());
}

}  // namespace arca::services
