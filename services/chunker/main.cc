// arca-chunker: the Chunker service as its own process (drives backups and
// restores across the collector, compressors and uploaders).
//   chunker --listen=HOST:PORT (common server flags: services/common/server.h)
//            [--drain-seconds N]
//           [--peer-ca F] [--peer-cert F --peer-key F] [--peer-insecure]
//           [--hash-threads N] [--max-chunks-in-flight N]
//           [--call-timeout-seconds N] [--job-timeout-seconds N]
//           [--stall-timeout-seconds N] [--hash-first]
// Exit codes: 0 after SIGTERM/SIGINT, 2 invalid flags or cannot listen.
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "libs/base/cli_flags.h"
#include "services/chunker/chunker_service.h"
#include "services/common/peer_flags.h"
#include "services/common/server.h"

namespace {

constexpr char kProgram[] = "arca-chunker";

int Usage(const std::string& message) {
  std::cerr << kProgram << ": " << message << " (exit 2)\n"
            << "usage: chunker " << arca::services::kServerFlagsUsage
            << " [--peer-ca FILE] "
               "[--peer-cert FILE --peer-key FILE] [--peer-insecure] [--hash-threads N] "
               "[--max-chunks-in-flight N] [--call-timeout-seconds N] [--job-timeout-seconds N] "
               "[--stall-timeout-seconds N] [--hash-first]\n";
  return 2;
}

bool ParseInt(const arca::cli::ParsedArgs& args, const std::string& flag, int min, int max,
              int* out, std::string* error) {
  std::optional<std::string> v = args.Last(flag);
  if (!v) return true;
  if (!absl::SimpleAtoi(*v, out) || *out < min || *out > max) {
    *error = "invalid --" + flag + " '" + *v + "': expected an integer in " + std::to_string(min) +
             ".." + std::to_string(max);
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  arca::cli::FlagSpec spec;
  arca::services::AddServerFlags(&spec);
  arca::services::AddPeerFlags(&spec);
  spec.value_flags.insert({"hash-threads", "max-chunks-in-flight", "call-timeout-seconds",
                           "job-timeout-seconds", "stall-timeout-seconds"});
  spec.bool_flags.insert("hash-first");
  absl::StatusOr<arca::cli::ParsedArgs> args =
      arca::cli::ParseArgs(std::vector<std::string>(argv + 1, argv + argc), spec);
  if (!args.ok()) return Usage(std::string(args.status().message()));
  if (!args->positional.empty()) return Usage("unexpected argument '" + args->positional[0] + "'");
  absl::StatusOr<arca::services::ServerFlags> flags = arca::services::ParseServerFlags(*args);
  if (!flags.ok()) return Usage(std::string(flags.status().message()));
  absl::StatusOr<arca::services::ClientTlsFlags> peer =
      arca::services::ParsePeerFlags(*args, *flags);
  if (!peer.ok()) return Usage(std::string(peer.status().message()));
  arca::services::ChunkerOptions options;
  options.peer_tls = *peer;
  int hash_threads = 0, in_flight = 0, call_timeout = 60, job_timeout = 86400, stall = 120;
  std::string error;
  if (!ParseInt(*args, "hash-threads", 0, 256, &hash_threads, &error) ||
      !ParseInt(*args, "max-chunks-in-flight", 0, 4096, &in_flight, &error) ||
      !ParseInt(*args, "call-timeout-seconds", 1, 86400, &call_timeout, &error) ||
      !ParseInt(*args, "job-timeout-seconds", 1, 30 * 86400, &job_timeout, &error) ||
      !ParseInt(*args, "stall-timeout-seconds", 1, 86400, &stall, &error)) {
    return Usage(error);
  }
  options.hash_threads = hash_threads;
  options.max_chunks_in_flight = static_cast<size_t>(in_flight);
  options.call_timeout = absl::Seconds(call_timeout);
  options.job_timeout = absl::Seconds(job_timeout);
  options.stall_timeout = absl::Seconds(stall);
  options.compress_first = !args->Has("hash-first");
  options.program = kProgram;
  arca::services::ChunkerService service(options);
  return arca::services::RunServer(kProgram, *flags, {&service},
                                   {.health_names = {arca::v1::Chunker::service_full_name()}});
}
