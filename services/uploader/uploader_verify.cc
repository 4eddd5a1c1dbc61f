// Uploader.Verify: libs/pipeline/verify on the uploader's repository, so a
// verify job's bulk data stays on the node that stores it.
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/pipeline/verify.h"
#include "libs/rpc/status_convert.h"
#include "services/uploader/uploader_service.h"

namespace arca::services {
namespace {

constexpr int kMaxVerifyWorkers = 256;

// One Verify call: RunVerify on a thread of its own (a check of a large
// repository takes minutes; it must not hold a worker-pool thread that
// PutChunks needs). OnCancel stops the check through the CancelToken.
class VerifyReactor final : public grpc::ServerUnaryReactor {
 public:
  VerifyReactor(Repository* repo, const v1::VerifyRequest* request, v1::VerifyResponse* response) {
    worker_ = std::thread([this, repo, request, response] {
      absl::StatusOr<v1::VerifyResponse> r = VerifyRepository(*repo, *request, &cancel_);
      metrics::UploaderMetrics& m = UploaderServiceMetrics();
      if (r.ok()) {
        m.verify_runs.Increment();
        if (r->exit_code() == static_cast<int>(ExitCode::kVerification)) {
          m.verify_failures.Increment();
        }
        m.verify_problems.Increment(static_cast<double>(r->problems_size()));
        *response = *std::move(r);
      } else {
        m.errors.Record(r.status(), v1::PHASE_VERIFICATION);
      }
      // Nothing of `this` is touched after Finish: OnDone may delete it.
      Finish(rpc::ToGrpcStatus(r.status()));
    });
  }

  void OnCancel() override { cancel_.Cancel(); }

  void OnDone() override { delete this; }

 private:
  ~VerifyReactor() override {
    if (worker_.get_id() == std::this_thread::get_id()) {
      worker_.detach();  // OnDone ran inline inside Finish on the worker
    } else {
      worker_.join();  // the worker is past Finish: it returns at once
    }
  }

  CancelToken cancel_;
  std::thread worker_;
};

}  // namespace

absl::StatusOr<v1::VerifyResponse> VerifyRepository(Repository& repo,
                                                    const v1::VerifyRequest& request,
                                                    const CancelToken* cancel) {
  if (request.workers() < 0 || request.workers() > kMaxVerifyWorkers) {
    return absl::InvalidArgumentError(absl::StrCat("Verify: workers ", request.workers(),
                                                   " is out of range: use 0..", kMaxVerifyWorkers,
                                                   " (0 = the uploader's cores)"));
  }
  VerifyResult r = RunVerify(repo, request.snapshot(), cancel, request.workers());
  if (r.exit_code == ExitCode::kCancelled) {
    return absl::CancelledError(absl::StrCat("Verify of ", repo.path(), " cancelled"));
  }
  if (r.exit_code != ExitCode::kSuccess && r.exit_code != ExitCode::kVerification) {
    // An unknown snapshot (exit 2) or a repository that cannot be read.
    if (!r.status.ok()) return r.status;
    return absl::InternalError(
        absl::StrCat("Verify: exit code ", static_cast<int>(r.exit_code), " without a status"));
  }
  v1::VerifyResponse response;
  response.set_exit_code(static_cast<int>(r.exit_code));
  response.set_snapshots(r.snapshots);
  response.set_chunks(r.chunks);
  response.set_bytes(r.bytes);
  response.set_entries(r.entries);
  for (std::string& p : r.problems) response.add_problems(std::move(p));
  return response;
}

grpc::ServerUnaryReactor* UploaderService::Verify(grpc::CallbackServerContext* context,
                                                  const v1::VerifyRequest* request,
                                                  v1::VerifyResponse* response) {
  return new VerifyReactor(repo_, request, response);
}

}  // namespace arca::services
