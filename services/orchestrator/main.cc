// arca-orchestrator: the job API (protos/arca/v1/orchestrator.proto) as its
// own process. It plans jobs and follows them; the stages move the data.
//   orchestrator --listen=HOST:PORT (common server flags: services/common/server.h)
//                 [--drain-seconds N]
//                --uploader=ADDR[,ADDR...] [--collector=ADDR[,ADDR...]]
//                [--chunker=ADDR[,ADDR...]] [--compressor=ADDR[,ADDR...]]
//                [--client-tls-ca F] [--client-tls-cert F --client-tls-key F]
//                [--client-insecure] [--auth-token-file F] [--host NAME]
//                [--job-timeout-seconds N] [--call-timeout-seconds N]
//                [--max-finished-jobs N] [--max-running-jobs N] [--state-dir DIR]
//                [--health-check-seconds N]
// Each replica flag may repeat and takes comma-separated lists. Without
// client TLS flags the other services are called the way this one serves:
// plaintext with --insecure, else TLS with the system's roots.
// --state-dir DIR keeps the job history across restarts (job_store.h).
// --max-running-jobs N (default 16, 0 = no limit): further jobs wait QUEUED.
// --health-check-seconds N (default 10, 1..3600): how often every replica is
// health-checked; the orchestrator is NOT_SERVING while a configured phase
// has no reachable replica (phase_health.h).
// Exit codes: 0 after SIGTERM/SIGINT, 2 invalid flags, an unreadable or
// empty token file, an unusable --state-dir, or an address that cannot be
// bound.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "libs/base/cli_flags.h"
#include "services/common/client_channel.h"
#include "services/common/server.h"
#include "services/orchestrator/job_manager.h"
#include "services/orchestrator/orchestrator_service.h"
#include "services/orchestrator/phase_health.h"

namespace {

constexpr char kProgram[] = "arca-orchestrator";

int Usage(const std::string& message) {
  std::cerr << kProgram << ": " << message << " (exit 2)\n"
            << "usage: orchestrator " << arca::services::kServerFlagsUsage
            << " --uploader=ADDR[,ADDR...] "
               "[--collector=ADDR,...] [--chunker=ADDR,...] [--compressor=ADDR,...] "
               "[--client-tls-ca FILE] [--client-tls-cert FILE --client-tls-key FILE] "
               "[--client-insecure] [--auth-token-file FILE] [--host NAME] "
               "[--job-timeout-seconds N] [--call-timeout-seconds N] [--max-finished-jobs N] "
               "[--max-running-jobs N] [--state-dir DIR] [--health-check-seconds N]\n";
  return 2;
}

std::vector<std::string> Addresses(const arca::cli::ParsedArgs& args, const std::string& flag) {
  std::vector<std::string> out;
  for (const std::string& v : args.All(flag)) {
    for (absl::string_view a : absl::StrSplit(v, ',')) out.emplace_back(a);
  }
  return out;
}

bool ParseInt(const arca::cli::ParsedArgs& args, const std::string& flag, int min, int max,
              int* out, std::string* error) {
  std::optional<std::string> v = args.Last(flag);
  if (!v) return true;
  if (!absl::SimpleAtoi(*v, out) || *out < min || *out > max) {
    *error =
        absl::StrCat("invalid --", flag, " '", *v, "': expected an integer in ", min, "..", max);
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  arca::cli::FlagSpec spec;
  arca::services::AddServerFlags(&spec);
  spec.value_flags.insert({"collector", "chunker", "compressor", "uploader", "client-tls-ca",
                           "client-tls-cert", "client-tls-key", "auth-token-file", "host",
                           "job-timeout-seconds", "call-timeout-seconds", "max-finished-jobs",
                           "max-running-jobs", "state-dir", "health-check-seconds"});
  spec.bool_flags.insert("client-insecure");
  absl::StatusOr<arca::cli::ParsedArgs> args =
      arca::cli::ParseArgs(std::vector<std::string>(argv + 1, argv + argc), spec);
  if (!args.ok()) return Usage(std::string(args.status().message()));
  if (!args->positional.empty()) return Usage("unexpected argument '" + args->positional[0] + "'");
  absl::StatusOr<arca::services::ServerFlags> flags = arca::services::ParseServerFlags(*args);
  if (!flags.ok()) return Usage(std::string(flags.status().message()));

  arca::services::OrchestratorOptions options;
  options.collectors = Addresses(*args, "collector");
  options.chunkers = Addresses(*args, "chunker");
  options.compressors = Addresses(*args, "compressor");
  options.uploaders = Addresses(*args, "uploader");
  if (options.uploaders.empty()) {
    return Usage("--uploader=ADDR[,ADDR...] is required (the repository's uploader replicas)");
  }
  for (const auto* list :
       {&options.collectors, &options.chunkers, &options.compressors, &options.uploaders}) {
    for (const std::string& a : *list) {
      if (a.empty()) return Usage("an empty address in a replica list");
    }
  }
  arca::services::ClientTlsFlags& tls = options.client_tls;
  tls.ca = args->Last("client-tls-ca").value_or("");
  tls.cert = args->Last("client-tls-cert").value_or("");
  tls.key = args->Last("client-tls-key").value_or("");
  const bool any_tls = !tls.ca.empty() || !tls.cert.empty() || !tls.key.empty();
  if (args->Has("client-insecure") && any_tls) {
    return Usage("--client-insecure cannot be combined with --client-tls-* flags");
  }
  if (tls.cert.empty() != tls.key.empty()) {
    return Usage("--client-tls-cert and --client-tls-key go together");
  }
  tls.insecure = args->Has("client-insecure") || (!any_tls && flags->insecure);
  if (!tls.insecure) {
    // By default the phases see the orchestrator's own identity
    // (spiffe://TRUST_DOMAIN/arca/orchestrator) and are checked against its
    // trust bundle.
    if (tls.cert.empty()) {
      tls.cert = flags->tls_cert;
      tls.key = flags->tls_key;
    }
    if (tls.ca.empty()) tls.ca = flags->tls_client_ca;
  }
  tls.reload_seconds = flags->tls_reload_seconds;
  tls.trust_domain = flags->trust_domain;
  for (const auto* list :
       {&options.collectors, &options.chunkers, &options.compressors, &options.uploaders}) {
    for (const std::string& a : *list) {
      if (absl::Status st = arca::services::CheckPlaintextPeer("replica", a, tls); !st.ok()) {
        return Usage(std::string(st.message()));
      }
    }
  }
  options.host = args->Last("host").value_or("");
  int job_timeout = 86400, call_timeout = 30, max_finished = 1000, max_running = 16,
      health_check = 10;
  std::string error;
  if (!ParseInt(*args, "job-timeout-seconds", 1, 30 * 86400, &job_timeout, &error) ||
      !ParseInt(*args, "health-check-seconds", 1, 3600, &health_check, &error) ||
      !ParseInt(*args, "call-timeout-seconds", 1, 86400, &call_timeout, &error) ||
      !ParseInt(*args, "max-finished-jobs", 1, 1000000, &max_finished, &error) ||
      !ParseInt(*args, "max-running-jobs", 0, 10000, &max_running, &error)) {
    return Usage(error);
  }
  options.job_timeout = absl::Seconds(job_timeout);
  options.call_timeout = absl::Seconds(call_timeout);
  options.max_finished_jobs = static_cast<size_t>(max_finished);
  options.max_running_jobs = static_cast<size_t>(max_running);
  options.state_dir = args->Last("state-dir").value_or("");
  options.program = kProgram;

  std::string token;
  if (std::optional<std::string> file = args->Last("auth-token-file")) {
    std::ifstream in(*file);
    if (!in) return Usage(absl::StrCat("cannot read --auth-token-file '", *file, "'"));
    std::stringstream ss;
    ss << in.rdbuf();
    token = std::string(absl::StripAsciiWhitespace(ss.str()));
    if (token.empty()) return Usage(absl::StrCat("--auth-token-file '", *file, "' is empty"));
  }

  arca::services::PhaseHealthOptions health_options;
  using arca::services::Role;
  health_options.phases = {{Role::kCollector, options.collectors},
                           {Role::kChunker, options.chunkers},
                           {Role::kCompressor, options.compressors},
                           {Role::kUploader, options.uploaders}};
  health_options.tls = options.client_tls;
  health_options.interval = absl::Seconds(health_check);
  health_options.health_names = {"", arca::v1::Orchestrator::service_full_name()};
  health_options.program = kProgram;
  absl::StatusOr<std::unique_ptr<arca::services::PhaseHealth>> phase_health =
      arca::services::PhaseHealth::Create(std::move(health_options));
  if (!phase_health.ok()) return Usage(std::string(phase_health.status().message()));

  absl::StatusOr<std::unique_ptr<arca::services::JobManager>> jobs =
      arca::services::JobManager::Create(options);
  if (!jobs.ok()) return Usage(std::string(jobs.status().message()));
  flags->auth_token = token;  // checked for every call by the caller authorizer
  int code;
  {
    arca::services::OrchestratorService service(jobs->get());
    arca::services::ServeOptions serve;
    serve.health_names = {arca::v1::Orchestrator::service_full_name()};
    serve.on_serving = [&](std::shared_ptr<arca::services::HealthStatusTable> table) {
      (*phase_health)->Start(std::move(table));
    };
    // On SIGTERM the jobs end first (recorded as interrupted by the
    // shutdown), so that open WatchJob streams deliver their final state
    // during the drain.
    arca::services::JobManager* manager = jobs->get();
    serve.on_signal = [manager] { manager->Shutdown(); };
    code = arca::services::RunServer(kProgram, *flags, {&service}, serve);
  }
  phase_health->reset();  // stops the health checks
  jobs->reset();          // cancels running jobs and joins their threads
  return code;
}
