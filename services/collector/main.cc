// arca-collector: the Collector service as its own process (the node agent
// that reads source trees and writes restored ones).
//   collector --listen=HOST:PORT (common server flags: services/common/server.h)
//              [--drain-seconds N]
//             [--peer-ca F] [--peer-cert F --peer-key F] [--peer-insecure]
//             [--call-timeout-seconds N]
//             [--source-root DIR]... [--restore-root DIR]... [--commands-file FILE]
// The collector's reach is its admin's choice, never a request's: Collect
// reads only below a --source-root, WriteTree writes only below a
// --restore-root (none given: every request is refused), and pre-backup
// commands are the NAME=COMMAND LINE lines of --commands-file, named by
// requests. See README.md.
// Exit codes: 0 after SIGTERM/SIGINT, 2 invalid flags (a root that is not a
// directory, an unreadable or malformed commands file) or cannot listen.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "libs/base/cli_flags.h"
#include "libs/fs/path_roots.h"
#include "libs/pipeline/commands.h"
#include "services/collector/collector_service.h"
#include "services/common/peer_flags.h"
#include "services/common/server.h"

namespace {

constexpr char kProgram[] = "arca-collector";

int Usage(const std::string& message) {
  std::cerr << kProgram << ": " << message << " (exit 2)\n"
            << "usage: collector " << arca::services::kServerFlagsUsage
            << " [--peer-ca FILE] "
               "[--peer-cert FILE --peer-key FILE] [--peer-insecure] [--call-timeout-seconds N] "
               "[--source-root DIR]... [--restore-root DIR]... [--commands-file FILE]\n";
  return 2;
}

// The commands of --commands-file FILE (arca::ParseCommandsFile).
absl::StatusOr<arca::CommandCatalog> ReadCommandsFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError("cannot read --commands-file '" + path + "'");
  }
  std::stringstream content;
  content << in.rdbuf();
  if (in.bad()) return absl::InvalidArgumentError("cannot read --commands-file '" + path + "'");
  absl::StatusOr<arca::CommandCatalog> c = arca::ParseCommandsFile(content.str(), path);
  if (!c.ok()) {
    return absl::InvalidArgumentError("invalid --commands-file " +
                                      std::string(c.status().message()));
  }
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  arca::cli::FlagSpec spec;
  arca::services::AddServerFlags(&spec);
  arca::services::AddPeerFlags(&spec);
  spec.value_flags.insert("call-timeout-seconds");
  spec.value_flags.insert("source-root");
  spec.value_flags.insert("restore-root");
  spec.value_flags.insert("commands-file");
  absl::StatusOr<arca::cli::ParsedArgs> args =
      arca::cli::ParseArgs(std::vector<std::string>(argv + 1, argv + argc), spec);
  if (!args.ok()) return Usage(std::string(args.status().message()));
  if (!args->positional.empty()) return Usage("unexpected argument '" + args->positional[0] + "'");
  absl::StatusOr<arca::services::ServerFlags> flags = arca::services::ParseServerFlags(*args);
  if (!flags.ok()) return Usage(std::string(flags.status().message()));
  arca::services::CollectorOptions options;
  absl::StatusOr<arca::services::ClientTlsFlags> peer =
      arca::services::ParsePeerFlags(*args, *flags);
  if (!peer.ok()) return Usage(std::string(peer.status().message()));
  options.peer_tls = *peer;
  if (std::optional<std::string> t = args->Last("call-timeout-seconds")) {
    int seconds = 0;
    if (!absl::SimpleAtoi(*t, &seconds) || seconds < 1 || seconds > 86400) {
      return Usage("invalid --call-timeout-seconds '" + *t + "': expected 1..86400");
    }
    options.call_timeout = absl::Seconds(seconds);
  }
  absl::StatusOr<std::vector<std::string>> source_roots =
      arca::fs::CanonicalizeRoots(args->All("source-root"), "--source-root");
  if (!source_roots.ok()) return Usage(std::string(source_roots.status().message()));
  options.source_roots = *std::move(source_roots);
  absl::StatusOr<std::vector<std::string>> restore_roots =
      arca::fs::CanonicalizeRoots(args->All("restore-root"), "--restore-root");
  if (!restore_roots.ok()) return Usage(std::string(restore_roots.status().message()));
  options.restore_roots = *std::move(restore_roots);
  if (std::optional<std::string> f = args->Last("commands-file")) {
    absl::StatusOr<arca::CommandCatalog> commands = ReadCommandsFile(*f);
    if (!commands.ok()) return Usage(std::string(commands.status().message()));
    options.commands = *std::move(commands);
  }
  if (options.source_roots.empty()) {
    std::cerr << kProgram << ": no --source-root: every Collect will be refused\n";
  }
  if (options.restore_roots.empty()) {
    std::cerr << kProgram << ": no --restore-root: every WriteTree will be refused\n";
  }
  options.program = kProgram;
  arca::services::CollectorService service(options);
  return arca::services::RunServer(kProgram, *flags, {&service},
                                   {.health_names = {arca::v1::Collector::service_full_name()}});
}
