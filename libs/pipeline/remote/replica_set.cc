#include "libs/pipeline/remote/replica_set.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/base/phase_status.h"

namespace arca {

bool IsReplicaFailure(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kCancelled:
      return true;
    default:
      return false;
  }
}

ReplicaSet::ReplicaSet(std::string what, v1::Phase phase, std::vector<std::string> addresses,
                       std::vector<std::shared_ptr<grpc::Channel>> channels)
    : what_(std::move(what)),
      phase_(phase),
      addresses_(std::move(addresses)),
      channels_(std::move(channels)),
      down_(addresses_.size()) {}

std::optional<size_t> ReplicaSet::Pick() {
  absl::MutexLock lock(&mu_);
  for (size_t k = 0; k < down_.size(); ++k) {
    size_t i = (next_ + k) % down_.size();
    if (down_[i].empty()) {
      next_ = i + 1;
      return i;
    }
  }
  return std::nullopt;
}

void ReplicaSet::MarkDown(size_t i, const absl::Status& why) {
  absl::MutexLock lock(&mu_);
  if (down_[i].empty()) {
    down_[i] = why.ok() ? std::string("down") : std::string(why.message());
    if (down_[i].empty()) down_[i] = absl::StatusCodeToString(why.code());
  }
}

bool ReplicaSet::down(size_t i) const {
  absl::MutexLock lock(&mu_);
  return !down_[i].empty();
}

size_t ReplicaSet::live() const {
  absl::MutexLock lock(&mu_);
  size_t n = 0;
  for (const std::string& d : down_) n += d.empty() ? 1 : 0;
  return n;
}

absl::Status ReplicaSet::NoneLeft() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> parts;
  for (size_t i = 0; i < down_.size(); ++i) {
    parts.push_back(absl::StrCat(addresses_[i], ": ", down_[i].empty() ? "live" : down_[i]));
  }
  return WithPhase(absl::UnavailableError(
                       absl::StrCat("no ", what_, " replica left (", absl::StrJoin(parts, "; "),
                                    "): start one or check the addresses given for this phase")),
                   phase_);
}

absl::Status ReplicaSet::Run(const std::function<absl::Status(size_t)>& fn,
                             const std::function<absl::Status()>& stop) {
  while (true) {
    if (stop) {
      if (absl::Status st = stop(); !st.ok()) return st;
    }
    std::optional<size_t> i = Pick();
    if (!i) return NoneLeft();
    absl::Status st = fn(*i);
    if (st.ok() || !IsReplicaFailure(st)) return st;
    if (stop) {
      if (absl::Status s = stop(); !s.ok()) return s;
    }
    MarkDown(*i, st);
  }
}

}  // namespace arca
