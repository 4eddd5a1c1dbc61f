#include "services/common/metrics_server.h"

#include <chrono>
#include <exception>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "prometheus/exposer.h"
#include "prometheus/gauge.h"

namespace arca::services {

void AddMetricsFlags(cli::FlagSpec* spec) { spec->value_flags.insert("metrics-listen"); }

absl::StatusOr<MetricsFlags> ParseMetricsFlags(const cli::ParsedArgs& args) {
  MetricsFlags flags;
  std::optional<std::string> listen = args.Last("metrics-listen");
  if (!listen) return flags;
  flags.listen = *listen;
  const size_t colon = listen->rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen->size()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid --metrics-listen '", *listen,
                                                   "': expected HOST:PORT, e.g. 0.0.0.0:9464"));
  }
  flags.host = listen->substr(0, colon);
  const std::string port = listen->substr(colon + 1);
  int port_value = -1;
  if (port.find_first_not_of("0123456789") != std::string::npos ||
      !absl::SimpleAtoi(port, &port_value) || port_value < 0 || port_value > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("invalid --metrics-listen '", *listen,
                                                   "': the port must be a number in 0..65535"));
  }
  flags.port = port_value;
  return flags;
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const MetricsFlags& flags, std::shared_ptr<prometheus::Registry> registry,
    const std::string& service, const std::string& version) {
  if (flags.listen.empty()) {
    return absl::InvalidArgumentError("no --metrics-listen address to serve metrics on");
  }
  // civetweb wants a numeric address.
  const std::string host = flags.host == "localhost" ? "127.0.0.1" : flags.host;
  const std::string bind = absl::StrCat(host, ":", flags.port);

  prometheus::BuildGauge()
      .Name("arca_build_info")
      .Help("Always 1; labels name the service and its version.")
      .Register(*registry)
      .Add({{"service", service}, {"version", version}})
      .Set(1);
  prometheus::BuildGauge()
      .Name("process_start_time_seconds")
      .Help("Start time of the process since the Unix epoch in seconds.")
      .Register(*registry)
      .Add({})
      .Set(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
               .count());

  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->registry_ = std::move(registry);
  try {
    // Two threads (prometheus-cpp's default): with one, civetweb takes 2 s
    // to stop, which would eat into the service's drain time.
    server->exposer_ = std::make_unique<prometheus::Exposer>(bind, 2);
    server->exposer_->RegisterCollectable(server->registry_);
    const std::vector<int> ports = server->exposer_->GetListeningPorts();
    if (ports.empty()) {
      return absl::UnavailableError(
          absl::StrCat("cannot serve metrics on ", bind, ": no listening port"));
    }
    server->port_ = ports.front();
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", bind, ": ", e.what(),
                     " (is the port taken or the address not local? see --metrics-listen)"));
  }
  server->address_ = absl::StrCat(flags.host, ":", server->port_);
  return server;
}

MetricsServer::~MetricsServer() = default;

}  // namespace arca::services
