// The Orchestrator service (protos/arca/v1/orchestrator.proto): a thin gRPC
// layer over JobManager (job_manager.h). Callers are authenticated and
// authorized before a handler runs, by the server's caller authorizer
// (services/common/caller_authorizer.h: a client certificate, or the bearer
// token of --auth-token-file; UNAUTHENTICATED / PERMISSION_DENIED otherwise,
// and nothing is started). Handlers convert the request, call the manager
// and map its status (libs/rpc/status_convert).
//
// WatchJob streams the JobWatch events until the final Job, the client goes
// away or the server shuts down.
//
// Thread-safety: thread-safe (synchronous gRPC handlers on gRPC's threads).
#ifndef ARCA_SERVICES_ORCHESTRATOR_ORCHESTRATOR_SERVICE_H_
#define ARCA_SERVICES_ORCHESTRATOR_ORCHESTRATOR_SERVICE_H_

#include <string>

#include "absl/status/status.h"
#include "arca/v1/orchestrator.grpc.pb.h"
#include "services/orchestrator/job_manager.h"

namespace arca::services {

class OrchestratorService final : public v1::Orchestrator::Service {
 public:
  // `jobs` is not owned and must outlive the service.
  explicit OrchestratorService(JobManager* jobs);

  grpc::Status StartBackup(grpc::ServerContext* context, const v1::StartBackupRequest* request,
                           v1::Job* response) override;
  grpc::Status StartRestore(grpc::ServerContext* context, const v1::StartRestoreRequest* request,
                            v1::Job* response) override;
  grpc::Status StartForget(grpc::ServerContext* context, const v1::StartForgetRequest* request,
                           v1::Job* response) override;
  grpc::Status StartGc(grpc::ServerContext* context, const v1::StartGcRequest* request,
                       v1::Job* response) override;
  grpc::Status StartVerify(grpc::ServerContext* context, const v1::StartVerifyRequest* request,
                           v1::Job* response) override;
  grpc::Status GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request,
                      v1::Job* response) override;
  grpc::Status WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                        grpc::ServerWriter<v1::JobEvent>* writer) override;
  grpc::Status CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                         v1::Job* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                        v1::ListJobsResponse* response) override;
  grpc::Status ListSnapshots(grpc::ServerContext* context, const v1::ListSnapshotsRequest* request,
                             v1::ListSnapshotsResponse* response) override;
  grpc::Status GetSnapshot(grpc::ServerContext* context, const v1::GetSnapshotRequest* request,
                           v1::GetSnapshotResponse* response) override;

 private:
  JobManager* const jobs_;
};

}  // namespace arca::services

#endif  // ARCA_SERVICES_ORCHESTRATOR_ORCHESTRATOR_SERVICE_H_
