// Runs the real `arca` binary (a data dependency of the test) as a child
// process and captures its exit code and output; plus small helpers shared
// by the end-to-end tests.
#ifndef ARCA_TESTS_E2E_ARCA_RUNNER_H_
#define ARCA_TESTS_E2E_ARCA_RUNNER_H_

#include <cstdint>
#include <string>
#include <vector>

namespace arca::e2e {

struct RunResult {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string out;
  std::string err;
  std::string Describe() const;  // for assertion messages
};

// Path of the arca binary in the test's runfiles.
std::string ArcaBinary();

// Runs `arca args...` (stdin /dev/null, no timeout) through
// libs/base/subprocess. extra_env entries are "NAME=value": they replace or
// add to the test's environment. When the program cannot be started:
// exit_code -1 and the reason in `err`.
RunResult RunArca(const std::vector<std::string>& args,
                  const std::vector<std::string>& extra_env = {});

// Runs any program (argv[0] without a '/' is looked up in PATH).
RunResult RunProgram(const std::vector<std::string>& argv);

// A fresh empty directory under TEST_TMPDIR.
std::string NewTempDir(const std::string& name);

// The number after "key": in a JSON document (quoted or not, as protobuf
// prints 64-bit integers as strings); -1 when absent.
double JsonNumber(const std::string& json, const std::string& key);
// The string value after "key": ("" when absent or not a string).
std::string JsonStringValue(const std::string& json, const std::string& key);

// First line of text (without the newline).
std::string FirstLine(const std::string& text);

// Writes/reads whole files; abort the test on failure via ADD_FAILURE.
void WriteFile(const std::string& path, const std::string& data);
std::string ReadFile(const std::string& path);

// Lists every regular file under dir (recursively), sorted.
std::vector<std::string> ListFiles(const std::string& dir);

}  // namespace arca::e2e

#endif  // ARCA_TESTS_E2E_ARCA_RUNNER_H_
