#include "tests/distributed/pipeline_cluster.h"

#include <sys/wait.h>

#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "libs/rpc/status_convert.h"
#include "services/common/client_channel.h"

namespace arca::distributed {
namespace {

// How a service of the cluster is told to secure its port and its calls.
std::vector<std::string> SecurityFlags(const std::string& tls_dir, const std::string& role) {
  if (tls_dir.empty()) return {"--insecure"};
  return {"--tls-cert",
          tls_dir + "/" + role + ".pem",
          "--tls-key",
          tls_dir + "/" + role + ".key",
          "--tls-client-ca",
          tls_dir + "/ca.pem",
          "--tls-reload-seconds",
          "1"};
}

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

template <typename Plan, typename Method>
JobOutcome Run(std::shared_ptr<grpc::Channel> channel, const Plan& plan, Method method,
               const std::function<bool(const v1::StageEvent&)>& on_event, absl::Duration timeout) {
  JobOutcome out;
  auto stub = v1::Chunker::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  std::unique_ptr<grpc::ClientReader<v1::StageEvent>> reader = ((*stub).*method)(&ctx, plan);
  v1::StageEvent e;
  bool cancelled = false;
  while (reader->Read(&e)) {
    out.events.push_back(e);
    if (e.has_result()) out.result = e.result();
    if (e.has_warning()) out.warnings.push_back(e.warning());
    if (on_event && !cancelled && !on_event(e)) {
      ctx.TryCancel();
      cancelled = true;
    }
  }
  out.status = rpc::FromGrpcStatus(reader->Finish());
  return out;
}

}  // namespace

std::string ArcaBinary() { return Runfile("tools/arca/arca"); }

std::vector<std::string> CollectorRootFlags(const std::string& root) {
  return {"--source-root=" + root, "--restore-root=" + root};
}

std::string JobOutcome::Describe() const {
  std::string s = absl::StrCat("status: ", status.ToString(), "\n");
  if (result) absl::StrAppend(&s, "result: ", result->ShortDebugString(), "\n");
  for (const v1::Warning& w : warnings)
    absl::StrAppend(&s, "warning: ", w.ShortDebugString(), "\n");
  return s;
}

absl::StatusOr<std::unique_ptr<PipelineCluster>> PipelineCluster::Start(const std::string& repo,
                                                                        ClusterOptions options) {
  std::unique_ptr<PipelineCluster> c(new PipelineCluster());
  c->repo_ = repo;
  c->tls_dir_ = options.tls_dir;
  auto security = [&](const std::string& role) { return SecurityFlags(options.tls_dir, role); };
  std::vector<std::string> init_argv = {ArcaBinary(), "init", "--repo", repo};
  init_argv.insert(init_argv.end(), options.init_args.begin(), options.init_args.end());
  RunResult init = RunProgram(init_argv);
  if (init.exit_code != 0) {
    return absl::FailedPreconditionError("arca init failed: " + init.Describe());
  }
  for (int i = 0; i < options.uploaders; ++i) {
    std::vector<std::string> args = Concat({"--repo", repo}, security("uploader"));
    args.insert(args.end(), options.uploader_args.begin(), options.uploader_args.end());
    args.insert(args.end(), options.all_args.begin(), options.all_args.end());
    absl::StatusOr<std::unique_ptr<ServiceProcess>> p =
        ServiceProcess::Start(Runfile("services/uploader/uploader"), args);
    if (!p.ok()) return p.status();
    c->uploaders_.push_back(*std::move(p));
  }
  for (int i = 0; i < options.compressors; ++i) {
    std::vector<std::string> args = security("compressor");
    if (options.compressor_threads > 0) {
      args.push_back("--threads");
      args.push_back(std::to_string(options.compressor_threads));
    }
    args.insert(args.end(), options.compressor_args.begin(), options.compressor_args.end());
    args.insert(args.end(), options.all_args.begin(), options.all_args.end());
    absl::StatusOr<std::unique_ptr<ServiceProcess>> p = ServiceProcess::Start(
        Runfile(options.compressor_binary.empty() ? "services/compressor/compressor"
                                                  : options.compressor_binary),
        args);
    if (!p.ok()) return p.status();
    c->compressors_.push_back(*std::move(p));
  }
  std::vector<std::string> collector_args = security("collector");
  for (const std::string& f :
       CollectorRootFlags(options.collector_root.empty() ? TestTmpDir() : options.collector_root)) {
    collector_args.push_back(f);
  }
  collector_args.insert(collector_args.end(), options.collector_args.begin(),
                        options.collector_args.end());
  collector_args.insert(collector_args.end(), options.all_args.begin(), options.all_args.end());
  absl::StatusOr<std::unique_ptr<ServiceProcess>> collector =
      ServiceProcess::Start(Runfile("services/collector/collector"), collector_args);
  if (!collector.ok()) return collector.status();
  c->collector_ = *std::move(collector);
  std::vector<std::string> chunker_args = security("chunker");
  chunker_args.insert(chunker_args.end(), options.chunker_args.begin(), options.chunker_args.end());
  chunker_args.insert(chunker_args.end(), options.all_args.begin(), options.all_args.end());
  absl::StatusOr<std::unique_ptr<ServiceProcess>> chunker =
      ServiceProcess::Start(Runfile("services/chunker/chunker"), chunker_args);
  if (!chunker.ok()) return chunker.status();
  c->chunker_ = *std::move(chunker);
  return c;
}

v1::BackupPlan PipelineCluster::BackupPlan(const std::string& source) const {
  v1::BackupPlan plan;
  plan.set_job_id("test-backup");
  plan.set_source(source);
  plan.set_host("testhost");
  plan.set_metadata_change_detection(true);
  plan.set_collector(collector_->address());
  for (const auto& c : compressors_) plan.add_compressors(c->address());
  for (const auto& u : uploaders_) plan.add_uploaders(u->address());
  return plan;
}

v1::RestorePlan PipelineCluster::RestorePlan(const std::string& snapshot,
                                             const std::string& target) const {
  v1::RestorePlan plan;
  plan.set_job_id("test-restore");
  plan.set_snapshot(snapshot);
  plan.set_target(target);
  plan.set_collector(collector_->address());
  for (const auto& c : compressors_) plan.add_compressors(c->address());
  for (const auto& u : uploaders_) plan.add_uploaders(u->address());
  return plan;
}

JobOutcome PipelineCluster::RunBackup(const v1::BackupPlan& plan,
                                      const std::function<bool(const v1::StageEvent&)>& on_event,
                                      absl::Duration timeout) {
  return Run(Channel(chunker_->address()), plan, &v1::Chunker::Stub::RunBackup, on_event, timeout);
}

JobOutcome PipelineCluster::RunRestore(const v1::RestorePlan& plan, absl::Duration timeout) {
  return Run(Channel(chunker_->address()), plan, &v1::Chunker::Stub::RunRestore, nullptr, timeout);
}

std::shared_ptr<grpc::Channel> PipelineCluster::Channel(const std::string& address) const {
  services::ClientTlsFlags tls;
  if (tls_dir_.empty()) {
    tls.insecure = true;
  } else {
    tls.ca = tls_dir_ + "/ca.pem";
    tls.cert = tls_dir_ + "/orchestrator.pem";
    tls.key = tls_dir_ + "/orchestrator.key";
    tls.reload_seconds = 1;  // as the services: rotation tests replace the files
  }
  absl::StatusOr<std::shared_ptr<grpc::Channel>> c = services::MakeChannel(address, tls);
  return c.ok() ? *c : nullptr;
}

absl::Status PipelineCluster::CheckAllServing() {
  std::vector<ServiceProcess*> all;
  for (auto& u : uploaders_) all.push_back(u.get());
  for (auto& c : compressors_) all.push_back(c.get());
  all.push_back(collector_.get());
  all.push_back(chunker_.get());
  for (ServiceProcess* p : all) {
    if (p->WaitExit(absl::ZeroDuration()) != -1) continue;  // killed on purpose
    absl::StatusOr<bool> serving =
        services::CheckServing(Channel(p->address()), "", absl::Seconds(5));
    if (!serving.ok()) return serving.status();
    if (!*serving) return absl::UnavailableError(p->address() + " is not SERVING");
  }
  return absl::OkStatus();
}

RunResult PipelineCluster::Snapshots() const {
  return RunProgram({ArcaBinary(), "snapshots", "--repo", repo_, "--json"});
}

RunResult PipelineCluster::Verify() const {
  return RunProgram({ArcaBinary(), "verify", "--repo", repo_});
}

std::unique_ptr<ServiceProcess> StartOrchestrator(PipelineCluster& c, int uploaders,
                                                  int compressors,
                                                  const std::string& chunker_override,
                                                  const std::vector<std::string>& extra) {
  std::vector<std::string> args = {
      "--insecure",
      "--host=testhost",
      "--collector=" + c.collector().address(),
      "--chunker=" + (chunker_override.empty() ? c.chunker().address() : chunker_override),
  };
  std::string list;
  for (int i = 0; i < compressors; ++i) {
    list += (i ? "," : "") + c.compressor(i).address();
  }
  args.push_back("--compressor=" + list);
  for (int i = 0; i < uploaders; ++i) args.push_back("--uploader=" + c.uploader(i).address());
  args.insert(args.end(), extra.begin(), extra.end());
  absl::StatusOr<std::unique_ptr<ServiceProcess>> p =
      ServiceProcess::Start(Runfile("services/orchestrator/orchestrator"), args);
  if (!p.ok()) {
    std::cerr << "orchestrator did not start: " << p.status() << "\n";
    return nullptr;
  }
  return *std::move(p);
}

RunResult Remote(const ServiceProcess& orchestrator, std::vector<std::string> args) {
  std::vector<std::string> argv = {ArcaBinary(), "--orchestrator=" + orchestrator.address(),
                                   "--insecure"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProgram(argv, absl::Seconds(120));
}

int VisibleSnapshots(const std::string& repo) {
  namespace stdfs = std::filesystem;
  int n = 0;
  if (!stdfs::exists(repo + "/snapshots")) return 0;
  for (const auto& e : stdfs::recursive_directory_iterator(repo + "/snapshots")) {
    if (e.path().filename() == "manifest.json") ++n;
  }
  return n;
}

int ChunkFiles(const std::string& repo) {
  namespace stdfs = std::filesystem;
  int n = 0;
  if (!stdfs::exists(repo + "/chunks")) return 0;
  for (const auto& e : stdfs::recursive_directory_iterator(repo + "/chunks")) {
    if (e.is_regular_file()) ++n;
  }
  return n;
}

}  // namespace arca::distributed
