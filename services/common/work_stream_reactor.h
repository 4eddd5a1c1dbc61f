// Streaming RPCs whose responses are computed off the reactor thread: the
// common engine of the compressor's and uploader's streams.
//
// Each request (read from the client, or taken from a list for a
// server-streaming call) gets a sequence number and is handed to StartWork;
// the subclass does the work elsewhere (a WorkerPool) and reports it with
// Complete(seq, result), from any thread. Responses are written in request
// order, one write in flight at a time, each message alive until its
// OnWriteDone. Backpressure: at most `max_in_flight` requests are being worked
// on or waiting to be written; no new request is read until one is written.
// The first error (from Complete, a failed write, or cancellation) ends the
// call with that status (converted by ToGrpcStatus, so the phase travels);
// results not yet written are dropped and no further request is read. The
// call is finished only when no work is outstanding, so work never outlives
// the reactor. A reactor deletes itself once gRPC has called OnDone and no
// Complete is still running (Release).
//
// Reactions never block: the engine takes its own mutex only briefly and
// never while calling into gRPC or StartWork.
//
// Queue depth: the engine reports every change of the number of requests it
// holds (being worked on, waiting to be written, or being written) to
// DepthChanged(delta), under its mutex; the sum of the deltas is back to 0
// when the call finishes. Services add them to an in-flight gauge.
#ifndef ARCA_SERVICES_COMMON_WORK_STREAM_REACTOR_H_
#define ARCA_SERVICES_COMMON_WORK_STREAM_REACTOR_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/support/server_callback.h"
#include "libs/rpc/status_convert.h"
#include "libs/base/worker_pool.h"

namespace arca::services {

// The transport-independent state machine. Not used directly: derive from
// BidiWorkReactor or ServerStreamWorkReactor.
template <typename Req, typename Resp>
class WorkStreamEngine {
 public:
  explicit WorkStreamEngine(size_t max_in_flight)
      : max_in_flight_(max_in_flight == 0 ? 1 : max_in_flight) {}
  virtual ~WorkStreamEngine() = default;
  WorkStreamEngine(const WorkStreamEngine&) = delete;
  WorkStreamEngine& operator=(const WorkStreamEngine&) = delete;

  // Reports the result of request `seq`; exactly once per StartWork, from any
  // thread (also from inside StartWork). An error ends the call.
  void Complete(uint64_t seq, absl::StatusOr<Resp> result) {
    // Complete runs on a thread of its own (a worker), and once it has
    // counted its request done, another thread may finish the call and gRPC
    // may run OnDone at once: this reference keeps the reactor alive until
    // Complete has left (also the tail of the mutex's Unlock, which can still
    // touch the mutex after a waiter took it over).
    refs_.fetch_add(1, std::memory_order_relaxed);
    Actions actions;
    {
      absl::MutexLock lock(&mu_);
      --in_flight_;
      if (!result.ok()) {
        Fail(result.status());
      } else if (status_.ok()) {
        ready_.emplace(seq, *std::move(result));
      }
      Decide(&actions);
    }
    Run(std::move(actions));
    Release();
  }

 protected:
  // Starts work on request `seq` (0, 1, 2, ... in arrival order).
  virtual void StartWork(uint64_t seq, Req request) = 0;
  // Every request has arrived (the client half-closed); called once, before
  // the call can finish, possibly while work is outstanding.
  virtual void OnInputClosed() {}
  // The number of requests held changed by `delta` (see the file comment).
  // Called with the engine's mutex held: must be cheap and must not call
  // back into the engine.
  virtual void DepthChanged(int64_t delta) {}

  // Drops a reference; the last one deletes the reactor. The transport holds
  // one from construction and drops it in OnDone (gRPC calls no reaction
  // after OnDone); Complete holds one while it runs.
  void Release() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // Transport hooks, implemented by the reactor adapters below.
  virtual void IssueRead() = 0;
  virtual void IssueWrite(const Resp* message) = 0;
  virtual void IssueFinish(grpc::Status status) = 0;

  // Transport events.
  void Begin() {
    Actions actions;
    {
      absl::MutexLock lock(&mu_);
      Decide(&actions);
    }
    Run(std::move(actions));
  }
  void InputArrived(Req request) {
    Actions actions;
    {
      absl::MutexLock lock(&mu_);
      reading_ = false;
      if (finished_ || !status_.ok()) {
        Decide(&actions);
      } else {
        ++in_flight_;
        ++issuing_;
        actions.start.emplace_back(next_seq_++, std::move(request));
        Decide(&actions);
      }
    }
    Run(std::move(actions));
  }
  void InputEnded() {
    Actions actions;
    {
      absl::MutexLock lock(&mu_);
      reading_ = false;
      if (!input_done_) {
        input_done_ = true;
        if (status_.ok()) {
          actions.input_closed = true;
          ++issuing_;
        }
      }
      Decide(&actions);
    }
    Run(std::move(actions));
  }
  void WriteDone(bool ok) {
    Actions actions;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {
        Fail(absl::CancelledError("the client went away before every response was written"));
      }
      Decide(&actions);
    }
    Run(std::move(actions));
  }
  void CallCancelled() {
    Actions actions;
    {
      absl::MutexLock lock(&mu_);
      Fail(absl::CancelledError(
          "the call was cancelled (by the client, its deadline, or a server shutdown)"));
      Decide(&actions);
    }
    Run(std::move(actions));
  }

 private:
  struct Actions {
    std::vector<std::pair<uint64_t, Req>> start;
    bool input_closed = false;
    bool read = false;
    bool write = false;
    bool finish = false;
    grpc::Status status;
  };

  void Fail(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (status_.ok()) status_ = std::move(status);
    ready_.clear();
  }

  // Chooses what to do next; every chosen read, write, start and
  // input_closed counts in issuing_ until Run has performed it, and the call
  // is finished only when nothing is being issued, so no thread can touch
  // the reactor after Finish.
  void Decide(Actions* a) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    DecideSteps(a);
    const int64_t depth = static_cast<int64_t>(in_flight_ + ready_.size() + (writing_ ? 1 : 0));
    if (depth != reported_depth_) {
      DepthChanged(depth - reported_depth_);
      reported_depth_ = depth;
    }
  }

  void DecideSteps(Actions* a) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    const bool failed = !status_.ok();
    if (!failed && !input_done_ && !reading_ && in_flight_ + ready_.size() < max_in_flight_) {
      reading_ = true;
      a->read = true;
      ++issuing_;
    }
    if (!failed && !writing_) {
      auto it = ready_.find(next_write_);
      if (it != ready_.end()) {
        write_message_ = std::move(it->second);
        ready_.erase(it);
        ++next_write_;
        writing_ = true;
        a->write = true;
        ++issuing_;
      }
    }
    if (issuing_ == 0 && !writing_ && in_flight_ == 0 &&
        (failed || (input_done_ && !reading_ && ready_.empty()))) {
      finished_ = true;
      a->finish = true;
      a->status = rpc::ToGrpcStatus(status_);
    }
  }

  void Run(Actions a) {
    while (true) {
      if (a.finish) {
        // Nothing else is outstanding or being issued (see Decide).
        IssueFinish(std::move(a.status));
        return;
      }
      const size_t issued =
          a.start.size() + (a.input_closed ? 1 : 0) + (a.read ? 1 : 0) + (a.write ? 1 : 0);
      if (issued == 0) return;
      for (auto& [seq, request] : a.start) StartWork(seq, std::move(request));
      if (a.input_closed) OnInputClosed();
      if (a.write) IssueWrite(&write_message_);
      if (a.read) IssueRead();
      Actions next;
      {
        absl::MutexLock lock(&mu_);
        issuing_ -= issued;
        Decide(&next);
      }
      a = std::move(next);
    }
  }

  const size_t max_in_flight_;
  std::atomic<int> refs_{1};  // see Release
  absl::Mutex mu_;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool input_done_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;  // StartWork'ed, not Complete'd
  size_t issuing_ ABSL_GUARDED_BY(mu_) = 0;    // chosen by Decide, not yet performed
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_write_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t reported_depth_ ABSL_GUARDED_BY(mu_) = 0;      // last total given to DepthChanged
  std::map<uint64_t, Resp> ready_ ABSL_GUARDED_BY(mu_);  // done, waiting to be written
  Resp write_message_;  // the write in flight; touched only by the writer
};

// A bidirectional stream: requests are read from the client. The subclass's
// constructor must end with Begin() (which starts the first read).
template <typename Req, typename Resp>
class BidiWorkReactor : public grpc::ServerBidiReactor<Req, Resp>,
                        public WorkStreamEngine<Req, Resp> {
 public:
  explicit BidiWorkReactor(size_t max_in_flight) : WorkStreamEngine<Req, Resp>(max_in_flight) {}

  void OnReadDone(bool ok) override {
    if (ok) {
      this->InputArrived(std::move(read_message_));
      // InputArrived has moved the message; reset it for the next read.
    } else {
      this->InputEnded();
    }
  }
  void OnWriteDone(bool ok) override { this->WriteDone(ok); }
  void OnCancel() override { this->CallCancelled(); }
  void OnDone() override { this->Release(); }

 protected:
  void IssueRead() override {
    read_message_ = Req();
    this->StartRead(&read_message_);
  }
  void IssueWrite(const Resp* message) override { this->StartWrite(message); }
  void IssueFinish(grpc::Status status) override { this->Finish(std::move(status)); }

 private:
  Req read_message_;  // the read in flight
};

// A server stream over requests known up front (e.g. the digests of one
// GetChunks request). The subclass's constructor must end with Begin().
template <typename Req, typename Resp>
class ServerStreamWorkReactor : public grpc::ServerWriteReactor<Resp>,
                                public WorkStreamEngine<Req, Resp> {
 public:
  ServerStreamWorkReactor(std::vector<Req> requests, size_t max_in_flight)
      : WorkStreamEngine<Req, Resp>(max_in_flight), requests_(std::move(requests)) {}

  void OnWriteDone(bool ok) override { this->WriteDone(ok); }
  void OnCancel() override { this->CallCancelled(); }
  void OnDone() override { this->Release(); }

 protected:
  // "Reading" takes the next request at once (so it recurses at most
  // max_in_flight deep).
  void IssueRead() override {
    if (next_ < requests_.size()) {
      this->InputArrived(std::move(requests_[next_++]));
    } else {
      this->InputEnded();
    }
  }
  void IssueWrite(const Resp* message) override { this->StartWrite(message); }
  void IssueFinish(grpc::Status status) override { this->Finish(std::move(status)); }

 private:
  std::vector<Req> requests_;
  size_t next_ = 0;  // touched only by the (single) read in flight
};

// A bidi stream whose every request is mapped to one response by `fn` on
// `pool`. fn: absl::StatusOr<Resp>(Req). `on_depth` (optional) receives the
// DepthChanged deltas (e.g. adds them to an in-flight gauge).
template <typename Req, typename Resp, typename Fn>
class PoolBidiReactor final : public BidiWorkReactor<Req, Resp> {
 public:
  PoolBidiReactor(WorkerPool* pool, size_t max_in_flight, Fn fn,
                  std::function<void(int64_t)> on_depth)
      : BidiWorkReactor<Req, Resp>(max_in_flight),
        pool_(pool),
        fn_(std::move(fn)),
        on_depth_(std::move(on_depth)) {
    this->Begin();
  }

 private:
  void StartWork(uint64_t seq, Req request) override {
    pool_->Submit([this, seq, request = std::move(request)]() mutable {
      this->Complete(seq, fn_(std::move(request)));
    });
  }
  void DepthChanged(int64_t delta) override {
    if (on_depth_) on_depth_(delta);
  }

  WorkerPool* const pool_;
  Fn fn_;
  const std::function<void(int64_t)> on_depth_;
};

template <typename Req, typename Resp, typename Fn>
grpc::ServerBidiReactor<Req, Resp>* MakePoolBidiReactor(
    WorkerPool* pool, size_t max_in_flight, Fn fn,
    std::function<void(int64_t)> on_depth = nullptr) {
  return new PoolBidiReactor<Req, Resp, Fn>(pool, max_in_flight, std::move(fn),
                                            std::move(on_depth));
}

// A server stream that ends at once with `status` (a request rejected before
// any work, e.g. a malformed digest list).
template <typename Resp>
class FailedWriteReactor final : public grpc::ServerWriteReactor<Resp> {
 public:
  explicit FailedWriteReactor(const absl::Status& status) {
    this->Finish(rpc::ToGrpcStatus(status));
  }
  void OnDone() override { delete this; }
};

// Runs `fn` (absl::Status()) on `pool` and finishes the unary call with its
// status: for unary handlers that block (disk I/O).
template <typename Fn>
grpc::ServerUnaryReactor* RunUnaryOnPool(grpc::CallbackServerContext* context, WorkerPool* pool,
                                         Fn fn) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  pool->Submit(
      [reactor, fn = std::move(fn)]() mutable { reactor->Finish(rpc::ToGrpcStatus(fn())); });
  return reactor;
}

}  // namespace arca::services

#endif  // ARCA_SERVICES_COMMON_WORK_STREAM_REACTOR_H_
