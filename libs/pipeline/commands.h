// Pre-backup commands (seed 000): `backup --command NAME=CMD` and
// `--critical-command NAME=CMD`. Each runs with /bin/sh -c before the source
// is walked; its standard output is stored in the snapshot.
#ifndef ARCA_LIBS_PIPELINE_COMMANDS_H_
#define ARCA_LIBS_PIPELINE_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace arca {

struct CommandSpec {
  std::string name;          // [A-Za-z0-9._-]+, unique per backup
  std::string command_line;
  bool critical = false;
};

// Parses "NAME=CMD". InvalidArgument naming the bad value.
absl::StatusOr<CommandSpec> ParseCommandSpec(absl::string_view spec,
                                             bool critical);

struct CommandOutput {
  int exit_status = 0;    // exit code, or 128+signal
  std::string stdout_data;
  std::string stderr_tail;  // last 4 KiB of stderr, for messages
  double duration_seconds = 0;
};

// Runs the command (stdin /dev/null), capturing stdout (at most
// max_output bytes: more is an error) and stderr. A command that cannot be
// started → Unavailable; an exit status != 0 is not an error here (the
// caller decides by `critical`).
absl::StatusOr<CommandOutput> RunCommand(const CommandSpec& spec,
                                         size_t max_output = 64u << 20);

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_COMMANDS_H_
