// The orchestrator's memory under a long job history: N backup jobs (default
// 1,000), each streaming W warnings (default 10,000) from a stage, through a
// real JobManager (the gRPC client side of the orchestrator). The stage is a
// minimal in-process Chunker service on loopback that sends the warnings and
// a result: it stands in for the pipeline, whose cost is not measured here.
//
//   bazel run -c opt //services/orchestrator:job_memory_benchmark -- \
//       [JOBS] [WARNINGS] [STATE_DIR]
//
// Prints, every 100 jobs and at the end: jobs done, wall time, VmRSS and
// VmHWM (/proc/self/status), and the size of the largest ListJobs page and
// GetJob response. The target: under 150 MB with 1,000 jobs of
// 10,000 warnings each.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "arca/v1/chunker.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "services/orchestrator/job_manager.h"

namespace arca::services {
namespace {

class WarningChunker final : public v1::Chunker::Service {
 public:
  explicit WarningChunker(int warnings) : warnings_(warnings) {}

  grpc::Status RunBackup(grpc::ServerContext*, const v1::BackupPlan* plan,
                         grpc::ServerWriter<v1::StageEvent>* writer) override {
    v1::StageEvent e;
    for (int i = 0; i < warnings_; ++i) {
      e.Clear();
      v1::Warning* w = e.mutable_warning();
      w->set_phase(v1::PHASE_COLLECTION);
      w->set_path(absl::StrCat(plan->source(), "/dir-", i / 100, "/unreadable-file-", i));
      w->set_message("cannot open: Permission denied (skipped; the snapshot misses it)");
      w->set_data_missing(true);
      writer->Write(e);
    }
    e.Clear();
    e.mutable_result()->set_snapshot("host_data/20261205T000000.000000000Z");
    e.mutable_result()->set_exit_code(3);
    e.mutable_result()->mutable_stats()->set_files(warnings_);
    writer->Write(e);
    return grpc::Status::OK;
  }

 private:
  const int warnings_;
};

std::string Status(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return line.substr(line.find(':') + 1);
  }
  return "?";
}

int Run(int jobs, int warnings, const std::string& state_dir) {
  WarningChunker chunker(warnings);
  int port = 0;
  grpc::ServerBuilder b;
  b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  b.RegisterService(&chunker);
  std::unique_ptr<grpc::Server> server = b.BuildAndStart();
  if (server == nullptr) return 1;
  OrchestratorOptions o;
  o.collectors = {"127.0.0.1:1"};
  o.chunkers = {absl::StrCat("127.0.0.1:", port)};
  o.compressors = {"127.0.0.1:1"};
  o.uploaders = {"127.0.0.1:1"};
  o.client_tls.insecure = true;
  o.seed_last_success = false;
  o.max_finished_jobs = static_cast<size_t>(jobs);
  o.state_dir = state_dir;
  absl::StatusOr<std::unique_ptr<JobManager>> m = JobManager::Create(o);
  if (!m.ok()) {
    std::fprintf(stderr, "%s\n", std::string(m.status().message()).c_str());
    return 1;
  }
  const absl::Time t0 = absl::Now();
  v1::StartBackupRequest r;
  r.set_source("/data");
  size_t max_page = 0, max_get = 0;
  for (int i = 1; i <= jobs; ++i) {
    absl::StatusOr<v1::Job> job = (*m)->StartBackup(r);
    if (!job.ok() || !(*m)->WaitIdle(absl::Minutes(10))) return 1;
    if (i % 100 == 0 || i == jobs) {
      v1::ListJobsRequest list;
      list.set_page_size(500);
      list.set_view(v1::JOB_VIEW_FULL);
      do {
        absl::StatusOr<v1::ListJobsResponse> page = (*m)->ListJobs(list);
        if (!page.ok()) return 1;
        max_page = std::max(max_page, page->ByteSizeLong());
        list.set_page_token(page->next_page_token());
      } while (!list.page_token().empty());
      absl::StatusOr<v1::Job> full = (*m)->GetJob(job->id());
      if (full.ok()) max_get = std::max(max_get, full->ByteSizeLong());
      std::printf(
          "jobs %5d  %7.1f s  VmRSS%s  VmHWM%s  largest ListJobs page %zu bytes, GetJob %zu "
          "bytes (%zu warnings of %llu kept)\n",
          i, absl::ToDoubleSeconds(absl::Now() - t0), Status("VmRSS").c_str(),
          Status("VmHWM").c_str(), max_page, max_get,
          full.ok() ? static_cast<size_t>(full->warnings_size()) : 0,
          full.ok() ? static_cast<unsigned long long>(full->warning_count()) : 0ULL);
      std::fflush(stdout);
    }
  }
  m->reset();
  server->Shutdown();
  return 0;
}

}  // namespace
}  // namespace arca::services

int main(int argc, char** argv) {
  int jobs = 1000, warnings = 10000;
  if (argc > 1 && !absl::SimpleAtoi(argv[1], &jobs)) return 2;
  if (argc > 2 && !absl::SimpleAtoi(argv[2], &warnings)) return 2;
  return arca::services::Run(jobs, warnings, argc > 3 ? argv[3] : "");
}
