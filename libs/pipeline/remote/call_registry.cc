#include "libs/pipeline/remote/call_registry.h"

namespace arca {

CallRegistry::Scoped::Scoped(CallRegistry* registry, grpc::ClientContext* context)
    : registry_(registry), context_(context) {
  if (registry_ == nullptr) return;
  absl::MutexLock lock(&registry_->mu_);
  registry_->calls_.insert(context_);
  if (!registry_->cancelled_.ok()) context_->TryCancel();
}

CallRegistry::Scoped::~Scoped() {
  if (registry_ == nullptr) return;
  absl::MutexLock lock(&registry_->mu_);
  registry_->calls_.erase(context_);
}

void CallRegistry::CancelAll(absl::Status why) {
  if (why.ok()) why = absl::CancelledError("cancelled");
  absl::MutexLock lock(&mu_);
  if (cancelled_.ok()) cancelled_ = std::move(why);
  for (grpc::ClientContext* c : calls_) c->TryCancel();
}

bool CallRegistry::cancelled() const {
  absl::MutexLock lock(&mu_);
  return !cancelled_.ok();
}

absl::Status CallRegistry::status() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

}  // namespace arca
