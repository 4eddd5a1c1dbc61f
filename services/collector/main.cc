// arca-collector: the Collector service as its own process (the node agent
// that reads source trees and writes restored ones).
//   collector --listen=HOST:PORT (--insecure | --tls-cert F --tls-key F
//             [--tls-client-ca F]) [--drain-seconds N]
//             [--peer-ca F] [--peer-cert F --peer-key F] [--peer-insecure]
//             [--call-timeout-seconds N]
// Exit codes: 0 after SIGTERM/SIGINT, 2 invalid flags or cannot listen.
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "services/chunker/peer_flags.h"
#include "services/collector/collector_service.h"
#include "services/common/server.h"
#include "tools/arca/cli_flags.h"

namespace {

constexpr char kProgram[] = "arca-collector";

int Usage(const std::string& message) {
  std::cerr << kProgram << ": " << message << " (exit 2)\n"
            << "usage: collector --listen=HOST:PORT (--insecure | --tls-cert FILE --tls-key FILE "
               "[--tls-client-ca FILE]) [--drain-seconds N] [--peer-ca FILE] "
               "[--peer-cert FILE --peer-key FILE] [--peer-insecure] [--call-timeout-seconds N]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  arca::cli::FlagSpec spec;
  arca::services::AddServerFlags(&spec);
  arca::services::AddPeerFlags(&spec);
  spec.value_flags.insert("call-timeout-seconds");
  absl::StatusOr<arca::cli::ParsedArgs> args =
      arca::cli::ParseArgs(std::vector<std::string>(argv + 1, argv + argc), spec);
  if (!args.ok()) return Usage(std::string(args.status().message()));
  if (!args->positional.empty()) return Usage("unexpected argument '" + args->positional[0] + "'");
  absl::StatusOr<arca::services::ServerFlags> flags = arca::services::ParseServerFlags(*args);
  if (!flags.ok()) return Usage(std::string(flags.status().message()));
  arca::services::CollectorOptions options;
  absl::StatusOr<arca::services::ClientTlsFlags> peer = arca::services::ParsePeerFlags(*args, *flags);
  if (!peer.ok()) return Usage(std::string(peer.status().message()));
  options.peer_tls = *peer;
  if (std::optional<std::string> t = args->Last("call-timeout-seconds")) {
    int seconds = 0;
    if (!absl::SimpleAtoi(*t, &seconds) || seconds < 1 || seconds > 86400) {
      return Usage("invalid --call-timeout-seconds '" + *t + "': expected 1..86400");
    }
    options.call_timeout = absl::Seconds(seconds);
  }
  options.program = kProgram;
  arca::services::CollectorService service(options);
  return arca::services::RunServer(kProgram, *flags, {&service});
}
