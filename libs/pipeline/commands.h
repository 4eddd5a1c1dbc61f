// Pre-backup commands (seed 000): `backup --command NAME=CMD` and
// `--critical-command NAME=CMD`. Each runs with /bin/sh -c before the source
// is walked; its standard output is stored in the snapshot.
#ifndef ARCA_LIBS_PIPELINE_COMMANDS_H_
#define ARCA_LIBS_PIPELINE_COMMANDS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace arca {

struct CommandSpec {
  std::string name;  // [A-Za-z0-9._-]+, unique per backup
  std::string command_line;
  bool critical = false;
};

// Parses "NAME=CMD". InvalidArgument naming the bad value.
absl::StatusOr<CommandSpec> ParseCommandSpec(absl::string_view spec, bool critical);

// Checks a command name: [A-Za-z0-9._-]+, not "." or "..". InvalidArgument
// "invalid <what> name '<name>': ..." otherwise.
absl::Status ValidateCommandName(absl::string_view name, absl::string_view what = "command");

// A node's pre-backup commands by name (the collector's --commands-file):
// name -> command line. Requests name them; only the node's admin writes
// the command lines.
using CommandCatalog = std::map<std::string, std::string>;

// Parses a commands file: one "NAME=COMMAND LINE" per line (the name as
// ValidateCommandName, the command line non-empty, run with /bin/sh -c);
// lines that are blank or whose first non-blank character is '#' are
// ignored; leading and trailing blanks of a line are dropped. Errors
// (InvalidArgument, naming "<file_name>:<line number>"): a line without '=',
// an empty name or command line, a bad name, a name defined twice.
absl::StatusOr<CommandCatalog> ParseCommandsFile(absl::string_view content,
                                                 absl::string_view file_name);

// The commands a request names, with their command lines from `catalog`
// (`critical` stays the request's). Each requested spec must carry only a
// name: PermissionDenied when one carries a command line ("the collector
// runs only commands from its --commands-file") or names a command the
// catalog does not have; InvalidArgument for a bad or repeated name. All are
// checked before any is returned, so nothing runs unless every one is known.
absl::StatusOr<std::vector<CommandSpec>> ResolveCommands(const std::vector<CommandSpec>& requested,
                                                         const CommandCatalog& catalog);

struct CommandOutput {
  int exit_status = 0;  // exit code, or 128+signal
  std::string stdout_data;
  std::string stderr_tail;  // last 4 KiB of stderr, for messages
  double duration_seconds = 0;
};

// Runs `/bin/sh -c command_line` (stdin /dev/null, no timeout; through
// libs/base/subprocess), capturing stdout (at most max_output bytes: more
// is ResourceExhausted, after the command has ended) and the last 4 KiB of
// stderr. A command that cannot be started → Unavailable; an exit status != 0
// is not an error here (the caller decides by `critical`). Safe to call from
// several threads at once.
absl::StatusOr<CommandOutput> RunCommand(const CommandSpec& spec, size_t max_output = 64u << 20);

}  // namespace arca

#endif  // ARCA_LIBS_PIPELINE_COMMANDS_H_
