// arca-compressor: the Compressor service as its own process.
//   compressor --listen=HOST:PORT (common server flags: services/common/server.h)
//               [--drain-seconds N] [--threads N]
//              [--max-in-flight N]
// Exit codes: 0 after SIGTERM/SIGINT, 2 invalid flags or cannot listen.
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "libs/base/cli_flags.h"
#include "services/common/server.h"
#include "services/compressor/compressor_service.h"

namespace {

constexpr char kProgram[] = "arca-compressor";

int Usage(const std::string& message) {
  std::cerr << kProgram << ": " << message << " (exit 2)\n"
            << "usage: compressor " << arca::services::kServerFlagsUsage
            << " [--threads N] [--max-in-flight N]\n";
  return 2;
}

bool ParseCount(const arca::cli::ParsedArgs& args, const std::string& flag, int max, int* out,
                std::string* error) {
  std::optional<std::string> v = args.Last(flag);
  if (!v) return true;
  if (!absl::SimpleAtoi(*v, out) || *out < 0 || *out > max) {
    *error =
        "invalid --" + flag + " '" + *v + "': expected an integer in 0.." + std::to_string(max);
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  arca::cli::FlagSpec spec;
  arca::services::AddServerFlags(&spec);
  spec.value_flags.insert({"threads", "max-in-flight"});
  absl::StatusOr<arca::cli::ParsedArgs> args =
      arca::cli::ParseArgs(std::vector<std::string>(argv + 1, argv + argc), spec);
  if (!args.ok()) return Usage(std::string(args.status().message()));
  if (!args->positional.empty()) return Usage("unexpected argument '" + args->positional[0] + "'");
  absl::StatusOr<arca::services::ServerFlags> flags = arca::services::ParseServerFlags(*args);
  if (!flags.ok()) return Usage(std::string(flags.status().message()));
  int threads = 0, max_in_flight = 0;
  std::string error;
  if (!ParseCount(*args, "threads", 256, &threads, &error) ||
      !ParseCount(*args, "max-in-flight", 1024, &max_in_flight, &error)) {
    return Usage(error);
  }
  arca::services::CompressorService service(
      {.threads = threads, .max_in_flight = static_cast<size_t>(max_in_flight)});
  return arca::services::RunServer(kProgram, *flags, {&service},
                                   {.health_names = {arca::v1::Compressor::service_full_name()}});
}
