// The whole distributed pipeline as real processes on loopback, for the
// pipeline_* tests: uploader replica(s) over one repository (made with the
// real `arca init`), compressor replicas, a collector (CollectorRootFlags:
// it may read and write below TEST_TMPDIR) and a chunker, all
// `--insecure --listen=127.0.0.1:0` (or mutual TLS: ClusterOptions::tls_dir).
// RunBackup / RunRestore call the
// chunker directly (no orchestrator) and collect its StageEvents.
// Every process is stopped when the cluster is destroyed (ServiceProcess).
#ifndef ARCA_TESTS_DISTRIBUTED_PIPELINE_CLUSTER_H_
#define ARCA_TESTS_DISTRIBUTED_PIPELINE_CLUSTER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "arca/v1/chunker.grpc.pb.h"
#include "grpcpp/channel.h"
#include "tests/distributed/service_process.h"

namespace arca::distributed {

struct ClusterOptions {
  int uploaders = 1;
  int compressors = 2;
  int compressor_threads = 0;  // 0: the binary's default
  // The compressors' binary (a runfile path; empty: the real
  // services/compressor/compressor) and extra flags for them: the
  // zero-trust tests run tests/distributed/lying_compressor instead.
  std::string compressor_binary;
  std::vector<std::string> compressor_args;
  std::vector<std::string> chunker_args;
  std::vector<std::string> uploader_args;
  // Extra flags of `arca init` (e.g. --encryption aes-256-gcm --new-key-file
  // K; the uploaders then need uploader_args --key-file K).
  std::vector<std::string> init_args;
  // The collector's --source-root and --restore-root (empty: TestTmpDir(),
  // as CollectorRootFlags), then collector_args (e.g. --commands-file=F).
  std::string collector_root;
  std::vector<std::string> collector_args;
  std::vector<std::string> all_args;  // given to every service (e.g. --metrics-listen=...)
  // Mutual TLS instead of --insecure: the directory of make_certs.sh's
  // files; each service serves and calls as DIR/ROLE.pem (re-read every
  // second), and the cluster calls the chunker as DIR/orchestrator.pem.
  std::string tls_dir;
};

struct JobOutcome {
  absl::Status status;                 // the RPC's status (phase restored)
  std::vector<v1::StageEvent> events;  // every event, in order
  std::optional<v1::StageResult> result;
  std::vector<v1::Warning> warnings;
  std::string Describe() const;
};

class PipelineCluster {
 public:
  // `repo` is created with `arca init --repo`.
  static absl::StatusOr<std::unique_ptr<PipelineCluster>> Start(const std::string& repo,
                                                                ClusterOptions options = {});

  const std::string& repo() const { return repo_; }
  ServiceProcess& uploader(int i) { return *uploaders_[i]; }
  ServiceProcess& compressor(int i) { return *compressors_[i]; }
  ServiceProcess& collector() { return *collector_; }
  ServiceProcess& chunker() { return *chunker_; }

  // Plans with every address filled in (host "testhost").
  v1::BackupPlan BackupPlan(const std::string& source) const;
  v1::RestorePlan RestorePlan(const std::string& snapshot, const std::string& target) const;

  // Runs a job to its end. `on_event` sees each event as it arrives and may
  // return false to cancel the call.
  JobOutcome RunBackup(const v1::BackupPlan& plan,
                       const std::function<bool(const v1::StageEvent&)>& on_event = nullptr,
                       absl::Duration timeout = absl::Seconds(120));
  JobOutcome RunRestore(const v1::RestorePlan& plan, absl::Duration timeout = absl::Seconds(120));

  // Health of every process still running (OK when all are SERVING).
  absl::Status CheckAllServing();

  // `arca snapshots --repo R --json` output, and `arca verify --repo R`.
  RunResult Snapshots() const;
  RunResult Verify() const;

 private:
  PipelineCluster() = default;

  // The channel the test uses to call `address` (plaintext, or mTLS as the
  // orchestrator).
  std::shared_ptr<grpc::Channel> Channel(const std::string& address) const;

  std::string repo_;
  std::string tls_dir_;
  std::vector<std::unique_ptr<ServiceProcess>> uploaders_;
  std::vector<std::unique_ptr<ServiceProcess>> compressors_;
  std::unique_ptr<ServiceProcess> collector_;
  std::unique_ptr<ServiceProcess> chunker_;
};

std::string ArcaBinary();

// The collector's reach in tests: --source-root and --restore-root at
// `root` (by default TestTmpDir(), where every NewTempDir is).
std::vector<std::string> CollectorRootFlags(const std::string& root = TestTmpDir());

// An orchestrator over `c`'s processes (--insecure, --host=testhost): its
// collector and chunker (or `chunker_override`, an address list), its first
// `compressors` compressors as one comma list and its first `uploaders`
// uploaders as repeated flags (both forms are accepted), then `extra` flags.
// Null when it does not start (the reason on stderr).
std::unique_ptr<ServiceProcess> StartOrchestrator(PipelineCluster& c, int uploaders,
                                                  int compressors,
                                                  const std::string& chunker_override = "",
                                                  const std::vector<std::string>& extra = {});

// `arca --orchestrator=ADDR --insecure ARGS...` (remote mode), 120 s at most.
RunResult Remote(const ServiceProcess& orchestrator, std::vector<std::string> args);

// What a repository directory holds, read from disk: committed snapshots
// (their manifest.json files) and chunk files (regular files under chunks/).
int VisibleSnapshots(const std::string& repo);
int ChunkFiles(const std::string& repo);

}  // namespace arca::distributed

#endif  // ARCA_TESTS_DISTRIBUTED_PIPELINE_CLUSTER_H_
