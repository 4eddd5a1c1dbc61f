// The client calls of one job, so that all of them can be cancelled at once
// (the job's caller went away, or one stage failed and the others must
// stop).
//
// Thread-safety: thread-safe.
#ifndef ARCA_LIBS_PIPELINE_REMOTE_CALL_REGISTRY_H_
#define ARCA_LIBS_PIPELINE_REMOTE_CALL_REGISTRY_H_

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/client_context.h"

namespace arca {

class CallRegistry {
 public:
  CallRegistry() = default;
  CallRegistry(const CallRegistry&) = delete;
  CallRegistry& operator=(const CallRegistry&) = delete;

  // Registers a call for the lifetime of the object; a call registered after
  // CancelAll is cancelled at once. Must be destroyed before the context.
  class Scoped {
   public:
    Scoped(CallRegistry* registry, grpc::ClientContext* context);
    ~Scoped();
    Scoped(const Scoped&) = delete;
    Scoped& operator=(const Scoped&) = delete;

   private:
    CallRegistry* registry_;
    grpc::ClientContext* context_;
  };

  // TryCancels every registered call, now and later; `why` becomes
  // status(). Only the first call's reason is kept.
  void CancelAll(absl::Status why);

  bool cancelled() const;
  // OK, or the reason given to CancelAll.
  absl::Status status() const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_set<grpc::ClientContext*> calls_ ABSL_GUARDED_BY(mu_);
  absl::Status cancelled_ ABSL_GUARDED_BY(mu_);
};

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_REMOTE_CALL_REGISTRY_H_
