#include "services/orchestrator/orchestrator_service.h"

#include <utility>

#include "services/common/status_convert.h"

namespace arca::services {
namespace {

// Compares without an early exit, so the time taken says nothing about
// where a wrong token differs.
bool SameSecret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < b.size(); ++i) {
    diff |= static_cast<unsigned char>(b[i] ^ (i < a.size() ? a[i] : 0));
  }
  return diff == 0;
}

template <typename T>
grpc::Status Reply(absl::StatusOr<T> result, T* response) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace

OrchestratorService::OrchestratorService(JobManager* jobs, std::string auth_token)
    : jobs_(jobs), auth_token_(std::move(auth_token)) {}

absl::Status OrchestratorService::Authorize(const grpc::ServerContext* context) const {
  if (auth_token_.empty()) return absl::OkStatus();
  const auto& md = context->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) {
    return absl::UnauthenticatedError(
        "no authorization metadata: send 'authorization: Bearer <token>' (arca --token-file)");
  }
  const std::string value(it->second.data(), it->second.size());
  constexpr char kPrefix[] = "Bearer ";
  if (value.rfind(kPrefix, 0) != 0) {
    return absl::UnauthenticatedError("the authorization metadata is not 'Bearer <token>'");
  }
  if (!SameSecret(value.substr(sizeof(kPrefix) - 1), auth_token_)) {
    return absl::UnauthenticatedError("the bearer token is not valid for this orchestrator");
  }
  return absl::OkStatus();
}

#define ARCA_AUTHORIZE(context)                             \
  if (absl::Status auth = Authorize(context); !auth.ok()) { \
    return ToGrpcStatus(auth);                              \
  }

grpc::Status OrchestratorService::StartBackup(grpc::ServerContext* context,
                                              const v1::StartBackupRequest* request,
                                              v1::Job* response) {
  ARCA_AUTHORIZE(context);
  return Reply(jobs_->StartBackup(*request), response);
}

grpc::Status OrchestratorService::StartRestore(grpc::ServerContext* context,
                                               const v1::StartRestoreRequest* request,
                                               v1::Job* response) {
  ARCA_AUTHORIZE(context);
  return Reply(jobs_->StartRestore(*request), response);
}

grpc::Status OrchestratorService::StartVerify(grpc::ServerContext* context,
                                              const v1::StartVerifyRequest* request,
                                              v1::Job* response) {
  ARCA_AUTHORIZE(context);
  return Reply(jobs_->StartVerify(*request), response);
}

grpc::Status OrchestratorService::GetJob(grpc::ServerContext* context,
                                         const v1::GetJobRequest* request, v1::Job* response) {
  ARCA_AUTHORIZE(context);
  return Reply(jobs_->GetJob(request->id()), response);
}

grpc::Status OrchestratorService::WatchJob(grpc::ServerContext* context,
                                           const v1::WatchJobRequest* request,
                                           grpc::ServerWriter<v1::JobEvent>* writer) {
  ARCA_AUTHORIZE(context);
  absl::StatusOr<std::unique_ptr<JobWatch>> watch = jobs_->Watch(request->id());
  if (!watch.ok()) return ToGrpcStatus(watch.status());
  while (!context->IsCancelled()) {
    std::optional<v1::JobEvent> e = (*watch)->Next(absl::Milliseconds(250));
    if (!e) {
      if ((*watch)->finished()) break;
      continue;
    }
    if (!writer->Write(*e)) break;
    if (e->has_final()) return grpc::Status::OK;
  }
  return grpc::Status(grpc::StatusCode::CANCELLED,
                      "the watch ended before the job did (client gone or server shutting down)");
}

grpc::Status OrchestratorService::CancelJob(grpc::ServerContext* context,
                                            const v1::CancelJobRequest* request,
                                            v1::Job* response) {
  ARCA_AUTHORIZE(context);
  return Reply(jobs_->CancelJob(request->id()), response);
}

grpc::Status OrchestratorService::ListJobs(grpc::ServerContext* context,
                                           const v1::ListJobsRequest* request,
                                           v1::ListJobsResponse* response) {
  ARCA_AUTHORIZE(context);
  for (v1::Job& job : jobs_->ListJobs()) *response->add_jobs() = std::move(job);
  return grpc::Status::OK;
}

grpc::Status OrchestratorService::ListSnapshots(grpc::ServerContext* context,
                                                const v1::ListSnapshotsRequest* request,
                                                v1::ListSnapshotsResponse* response) {
  ARCA_AUTHORIZE(context);
  return Reply(jobs_->ListSnapshots(*request), response);
}

}  // namespace arca::services
