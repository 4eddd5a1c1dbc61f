// A small command-line parser for `arca SUBCOMMAND [ARGS] [--flags]`:
// `--flag value`, `--flag=value`, repeatable flags, boolean flags, and
// positional arguments in any order. Unknown flags are usage errors (exit 2).
#ifndef ARCA_LIBS_BASE_CLI_FLAGS_H_
#define ARCA_LIBS_BASE_CLI_FLAGS_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace arca::cli {

struct FlagSpec {
  std::set<std::string> value_flags;  // take a value, may repeat
  std::set<std::string> bool_flags;   // no value
};

struct ParsedArgs {
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> values;
  std::set<std::string> bools;

  std::optional<std::string> Last(const std::string& flag) const;
  const std::vector<std::string>& All(const std::string& flag) const;
  bool Has(const std::string& flag) const { return bools.count(flag) > 0; }
};

// args excludes the program and subcommand names. InvalidArgument for an
// unknown flag or a value flag without value.
absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& args, const FlagSpec& spec);

}  // namespace arca::cli

#endif  // ARCA_LIBS_BASE_CLI_FLAGS_H_
