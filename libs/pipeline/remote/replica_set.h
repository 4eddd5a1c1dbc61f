// The replicas of one phase of the distributed pipeline (DESIGN.md §2: a
// list of addresses per phase, load-balanced): channels picked round-robin,
// and a replica that fails with a transport error is taken out for the rest
// of the job. Chunks are idempotent, so work that failed on one replica may be
// sent again to another.
//
// Thread-safety: thread-safe.
#ifndef ARCA_LIBS_PIPELINE_REMOTE_REPLICA_SET_H_
#define ARCA_LIBS_PIPELINE_REMOTE_REPLICA_SET_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "arca/v1/common.pb.h"
#include "grpcpp/channel.h"

namespace arca {

// True for the codes a dead or unreachable replica produces (UNAVAILABLE,
// DEADLINE_EXCEEDED, UNKNOWN, INTERNAL, ABORTED, CANCELLED): the work may be
// retried elsewhere. False for answers about the request itself
// (INVALID_ARGUMENT, NOT_FOUND, DATA_LOSS, RESOURCE_EXHAUSTED, ...).
bool IsReplicaFailure(const absl::Status& status);

class ReplicaSet {
 public:
  // `what` names the phase's service in messages ("compressor"); `phase` is
  // attached to NoneLeft(). addresses and channels have the same size.
  ReplicaSet(std::string what, v1::Phase phase, std::vector<std::string> addresses,
             std::vector<std::shared_ptr<grpc::Channel>> channels);

  size_t size() const { return addresses_.size(); }
  const std::string& what() const { return what_; }
  const std::string& address(size_t i) const { return addresses_[i]; }
  const std::shared_ptr<grpc::Channel>& channel(size_t i) const { return channels_[i]; }

  // The next live replica (round-robin), or nullopt when none is left.
  std::optional<size_t> Pick();
  // Takes replica i out (idempotent); `why` is kept for NoneLeft().
  void MarkDown(size_t i, const absl::Status& why);
  bool down(size_t i) const;
  size_t live() const;

  // Unavailable "no <what> replica left (a: why; b: why)" with the phase.
  absl::Status NoneLeft() const;

  // Runs fn(i) on live replicas, starting with Pick(), until it succeeds or
  // fails with something other than a replica failure; a replica whose call
  // failed is marked down. Returns fn's last status, or NoneLeft().
  // `stop` (may be null) is checked before each attempt: when it returns an
  // error, that error is returned.
  absl::Status Run(const std::function<absl::Status(size_t)>& fn,
                   const std::function<absl::Status()>& stop = nullptr);

 private:
  const std::string what_;
  const v1::Phase phase_;
  const std::vector<std::string> addresses_;
  const std::vector<std::shared_ptr<grpc::Channel>> channels_;

  mutable absl::Mutex mu_;
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> down_ ABSL_GUARDED_BY(mu_);  // "" = live; else why
};

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_REMOTE_REPLICA_SET_H_
