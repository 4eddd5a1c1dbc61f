#include "tests/e2e/arca_runner.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <utility>

#include "gtest/gtest.h"
#include "libs/base/subprocess.h"

namespace arca::e2e {
namespace {

RunResult Run(std::vector<std::string> argv, const std::vector<std::string>& extra_env) {
  RunResult r;
  SubprocessOptions options;
  options.argv = std::move(argv);
  if (!extra_env.empty()) options.environment = EnvironmentWith(extra_env);
  options.stdout_output = SubprocessOutput::Capture();
  options.stderr_output = SubprocessOutput::Capture();
  absl::StatusOr<SubprocessResult> result = RunSubprocess(options);
  if (!result.ok()) {
    r.err = std::string(result.status().message());
    return r;
  }
  r.exit_code = result->exit_code;
  r.out = std::move(result->stdout_data);
  r.err = std::move(result->stderr_data);
  return r;
}

}  // namespace

std::string RunResult::Describe() const {
  std::ostringstream s;
  s << "exit " << exit_code << "\n--- stdout ---\n"
    << out.substr(0, 4000) << "\n--- stderr ---\n"
    << err.substr(0, 4000);
  return s.str();
}

std::string ArcaBinary() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  std::string base = srcdir ? srcdir : ".";
  for (const char* candidate : {"/arca/tools/arca/arca", "/_main/tools/arca/arca"}) {
    std::string p = base + candidate;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return base + "/arca/tools/arca/arca";
}

RunResult RunArca(const std::vector<std::string>& args, const std::vector<std::string>& extra_env) {
  std::vector<std::string> argv = {ArcaBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return Run(std::move(argv), extra_env);
}

RunResult RunProgram(const std::vector<std::string>& argv) { return Run(argv, {}); }

std::string NewTempDir(const std::string& name) {
  static std::atomic<int> counter{0};
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string dir = std::string(tmp ? tmp : "/tmp") + "/" + name + "." + std::to_string(getpid()) +
                    "." + std::to_string(counter++);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

double JsonNumber(const std::string& json, const std::string& key) {
  std::string needle = "\"" + key + "\":";
  size_t pos = json.find(needle);
  if (pos == std::string::npos) return -1;
  pos += needle.size();
  while (pos < json.size() && (json[pos] == ' ' || json[pos] == '"')) ++pos;
  return std::strtod(json.c_str() + pos, nullptr);
}

std::string JsonStringValue(const std::string& json, const std::string& key) {
  std::string needle = "\"" + key + "\":";
  size_t pos = json.find(needle);
  if (pos == std::string::npos) return "";
  pos += needle.size();
  while (pos < json.size() && json[pos] == ' ') ++pos;
  if (pos >= json.size() || json[pos] != '"') return "";
  size_t end = json.find('"', pos + 1);
  return json.substr(pos + 1, end - pos - 1);
}

std::string FirstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!f) ADD_FAILURE() << "cannot write " << path;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) ADD_FAILURE() << "cannot read " << path;
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

std::vector<std::string> ListFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace arca::e2e
