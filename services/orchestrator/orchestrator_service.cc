#include "services/orchestrator/orchestrator_service.h"

#include <utility>

#include "libs/rpc/status_convert.h"

namespace arca::services {
namespace {

template <typename T>
grpc::Status Reply(absl::StatusOr<T> result, T* response) {
  if (!result.ok()) return rpc::ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace

OrchestratorService::OrchestratorService(JobManager* jobs) : jobs_(jobs) {}

grpc::Status OrchestratorService::StartBackup(grpc::ServerContext* context,
                                              const v1::StartBackupRequest* request,
                                              v1::Job* response) {
  return Reply(jobs_->StartBackup(*request), response);
}

grpc::Status OrchestratorService::StartRestore(grpc::ServerContext* context,
                                               const v1::StartRestoreRequest* request,
                                               v1::Job* response) {
  return Reply(jobs_->StartRestore(*request), response);
}

grpc::Status OrchestratorService::StartForget(grpc::ServerContext* context,
                                              const v1::StartForgetRequest* request,
                                              v1::Job* response) {
  return Reply(jobs_->StartForget(*request), response);
}

grpc::Status OrchestratorService::StartGc(grpc::ServerContext* context,
                                          const v1::StartGcRequest* request, v1::Job* response) {
  return Reply(jobs_->StartGc(*request), response);
}

grpc::Status OrchestratorService::StartVerify(grpc::ServerContext* context,
                                              const v1::StartVerifyRequest* request,
                                              v1::Job* response) {
  return Reply(jobs_->StartVerify(*request), response);
}

grpc::Status OrchestratorService::GetJob(grpc::ServerContext* context,
                                         const v1::GetJobRequest* request, v1::Job* response) {
  return Reply(jobs_->GetJob(request->id(), request->view()), response);
}

grpc::Status OrchestratorService::WatchJob(grpc::ServerContext* context,
                                           const v1::WatchJobRequest* request,
                                           grpc::ServerWriter<v1::JobEvent>* writer) {
  absl::StatusOr<std::unique_ptr<JobWatch>> watch =
      jobs_->Watch(request->id(), request->after_sequence());
  if (!watch.ok()) return rpc::ToGrpcStatus(watch.status());
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
  return Reply(jobs_->CancelJob(request->id()), response);
}

grpc::Status OrchestratorService::ListJobs(grpc::ServerContext* context,
                                           const v1::ListJobsRequest* request,
                                           v1::ListJobsResponse* response) {
  return Reply(jobs_->ListJobs(*request), response);
}

grpc::Status OrchestratorService::GetSnapshot(grpc::ServerContext* context,
                                              const v1::GetSnapshotRequest* request,
                                              v1::GetSnapshotResponse* response) {
  return Reply(jobs_->GetSnapshot(*request), response);
}

grpc::Status OrchestratorService::ListSnapshots(grpc::ServerContext* context,
                                                const v1::ListSnapshotsRequest* request,
                                                v1::ListSnapshotsResponse* response) {
  return Reply(jobs_->ListSnapshots(*request), response);
}

}  // namespace arca::services
