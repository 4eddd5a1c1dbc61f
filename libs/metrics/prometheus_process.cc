#include "libs/metrics/prometheus_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "libs/base/subprocess.h"

namespace arca::metrics {
namespace {

// A loopback port that was free a moment ago.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

std::string UrlEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      char hex[4];
      snprintf(hex, sizeof(hex), "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

std::string Tail(const std::string& s, size_t n) {
  return s.size() <= n ? s : s.substr(s.size() - n);
}

}  // namespace

absl::StatusOr<std::pair<int, std::string>> HttpGet(int port, const std::string& target) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("cannot connect to 127.0.0.1:", port, ": ", std::strerror(err)));
  }
  const std::string request = absl::StrCat("GET ", target, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  size_t done = 0;
  while (done < request.size()) {
    const ssize_t n = write(fd, request.data() + done, request.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  std::string response;
  char buf[16384];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) response.append(buf, static_cast<size_t>(n));
  close(fd);
  // "HTTP/1.x NNN ..."
  if (response.size() < 12 || response.compare(0, 5, "HTTP/") != 0) {
    return absl::UnavailableError(absl::StrCat("no HTTP response from 127.0.0.1:", port));
  }
  const int status = std::atoi(response.c_str() + 9);
  const size_t body = response.find("\r\n\r\n");
  return std::make_pair(status, body == std::string::npos ? "" : response.substr(body + 4));
}

absl::StatusOr<std::unique_ptr<PrometheusProcess>> PrometheusProcess::Start(
    const Options& options) {
  if (access(options.binary.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        options.binary, " is not installed; run scripts/install-deps.sh (package prometheus)"));
  }
  mkdir(options.work_dir.c_str(), 0755);
  std::ostringstream config;
  config << "global:\n  scrape_interval: " << options.scrape_interval_ms << "ms\n"
         << "  evaluation_interval: " << options.scrape_interval_ms << "ms\n";
  if (!options.rule_files.empty()) {
    config << "rule_files:\n";
    for (const std::string& f : options.rule_files) config << "  - \"" << f << "\"\n";
  }
  config << "scrape_configs:\n";
  std::map<std::string, std::vector<std::string>> by_job;
  for (const Target& t : options.targets) by_job[t.job].push_back("\"" + t.address + "\"");
  for (const auto& [job, addresses] : by_job) {
    config << "  - job_name: \"" << job << "\"\n    static_configs:\n      - targets: ["
           << absl::StrJoin(addresses, ", ") << "]\n";
  }
  const std::string config_path = options.work_dir + "/prometheus.yml";
  std::ofstream(config_path) << config.str();

  absl::Status last = absl::UnavailableError("not started");
  for (int attempt = 0; attempt < 3; ++attempt) {  // the free port may be taken meanwhile
    std::unique_ptr<PrometheusProcess> p(new PrometheusProcess());
    p->port_ = FreePort();
    p->log_path_ = absl::StrCat(options.work_dir, "/prometheus.", attempt, ".log");
    const std::vector<std::string> args = {
        options.binary,
        "--config.file=" + config_path,
        absl::StrCat("--storage.tsdb.path=", options.work_dir, "/data", attempt),
        absl::StrCat("--web.listen-address=127.0.0.1:", p->port_),
        "--log.level=warn",
    };
    // One descriptor for stdout and stderr (2>&1 into the log).
    const int log_fd = open(p->log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd < 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot create ", p->log_path_, ": ", std::strerror(errno)));
    }
    SubprocessOptions spawn;
    spawn.argv = args;
    spawn.stdout_output = SubprocessOutput::Fd(log_fd);
    spawn.stderr_output = SubprocessOutput::Fd(log_fd);
    absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(spawn);
    close(log_fd);
    if (!process.ok()) {
      return absl::UnavailableError(
          absl::StrCat("cannot start prometheus: ", process.status().message()));
    }
    p->process_ = std::move(*process);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      absl::StatusOr<SubprocessResult> exited = p->process_->Wait(absl::ZeroDuration());
      if (exited.status().code() != absl::StatusCode::kDeadlineExceeded) {
        last = absl::UnavailableError(absl::StrCat(
            "prometheus exited (",
            exited.ok() ? absl::StrCat("status ", exited->exit_code) : exited.status().ToString(),
            "): ", Tail(p->log(), 2000)));
        break;
      }
      absl::StatusOr<std::pair<int, std::string>> ready = HttpGet(p->port_, "/-/ready");
      if (ready.ok() && ready->first == 200) return p;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!p->process_->reaped()) {
      last = absl::UnavailableError(
          absl::StrCat("prometheus not ready after 30 s: ", Tail(p->log(), 2000)));
    }
  }
  return last;
}

PrometheusProcess::~PrometheusProcess() {
  if (process_ != nullptr) process_->Terminate(absl::Seconds(10)).IgnoreError();
}

std::string PrometheusProcess::log() const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

absl::StatusOr<std::vector<PrometheusProcess::Sample>> PrometheusProcess::Query(
    const std::string& promql) {
  absl::StatusOr<std::pair<int, std::string>> response =
      HttpGet(port_, "/api/v1/query?query=" + UrlEncode(promql));
  if (!response.ok()) return response.status();
  google::protobuf::Struct json;
  if (!google::protobuf::util::JsonStringToMessage(response->second, &json).ok()) {
    return absl::UnavailableError(
        absl::StrCat("query '", promql, "': not JSON: ", Tail(response->second, 500)));
  }
  const auto& f = json.fields();
  if (response->first != 200 || !f.count("status") || f.at("status").string_value() != "success") {
    const std::string error = f.count("error") ? f.at("error").string_value() : response->second;
    return absl::InvalidArgumentError(absl::StrCat("query '", promql, "': ", error));
  }
  std::vector<Sample> samples;
  const auto& data = f.at("data").struct_value().fields();
  if (!data.count("result")) return samples;
  for (const auto& item : data.at("result").list_value().values()) {
    const auto& fields = item.struct_value().fields();
    Sample sample;
    if (fields.count("metric")) {
      for (const auto& [k, v] : fields.at("metric").struct_value().fields()) {
        sample.labels[k] = v.string_value();
      }
    }
    if (fields.count("value") && fields.at("value").list_value().values_size() == 2) {
      sample.value =
          std::strtod(fields.at("value").list_value().values(1).string_value().c_str(), nullptr);
    }
    samples.push_back(std::move(sample));
  }
  return samples;
}

absl::StatusOr<std::vector<PrometheusProcess::Sample>> PrometheusProcess::WaitFor(
    const std::string& promql, const std::function<bool(const std::vector<Sample>&)>& accept,
    std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last = "no answer";
  while (true) {
    absl::StatusOr<std::vector<Sample>> result = Query(promql);
    if (result.ok()) {
      if (accept(*result)) return result;
      std::vector<std::string> parts;
      for (const Sample& s : *result) parts.push_back(absl::StrCat(s.value));
      last = absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
    } else if (result.status().code() == absl::StatusCode::kInvalidArgument) {
      return result.status();
    } else {
      last = std::string(result.status().message());
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrCat("query '", promql, "' did not reach the ",
                                                  "expected result in ", timeout.count(),
                                                  " ms; last result: ", last));
}

}  // namespace arca::metrics
