#include "libs/pipeline/commands.h"

#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "libs/base/subprocess.h"

namespace arca {

absl::StatusOr<CommandSpec> ParseCommandSpec(absl::string_view spec, bool critical) {
  const char* flag = critical ? "--critical-command" : "--command";
  size_t eq = spec.find('=');
  if (eq == absl::string_view::npos || eq == 0 || eq + 1 == spec.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid ", flag, " '", spec, "': expected NAME=COMMAND"));
  }
  CommandSpec out;
  out.name = std::string(spec.substr(0, eq));
  out.command_line = std::string(spec.substr(eq + 1));
  out.critical = critical;
  if (absl::Status st = ValidateCommandName(out.name, flag); !st.ok()) return st;
  return out;
}

absl::Status ValidateCommandName(absl::string_view name, absl::string_view what) {
  bool ok = !name.empty() && name != "." && name != "..";
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-');
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("invalid ", what, " name '", name, "': use letters, digits, '.', '_' and '-'"));
}

absl::StatusOr<CommandCatalog> ParseCommandsFile(absl::string_view content,
                                                 absl::string_view file_name) {
  CommandCatalog out;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(content, '\n')) {
    ++number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(file_name, ":", number, ": ", why));
    };
    size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      return bad(absl::StrCat("expected NAME=COMMAND LINE, got '", line, "'"));
    }
    absl::string_view name = absl::StripTrailingAsciiWhitespace(line.substr(0, eq));
    absl::string_view command_line = absl::StripLeadingAsciiWhitespace(line.substr(eq + 1));
    if (absl::Status st = ValidateCommandName(name); !st.ok()) {
      return bad(st.message());
    }
    if (command_line.empty()) {
      return bad(absl::StrCat("command '", name, "' has an empty command line"));
    }
    if (!out.emplace(std::string(name), std::string(command_line)).second) {
      return bad(absl::StrCat("command '", name, "' is defined twice"));
    }
  }
  return out;
}

absl::StatusOr<std::vector<CommandSpec>> ResolveCommands(const std::vector<CommandSpec>& requested,
                                                         const CommandCatalog& catalog) {
  std::vector<CommandSpec> out;
  std::set<std::string> seen;
  for (const CommandSpec& r : requested) {
    if (!r.command_line.empty()) {
      return absl::PermissionDeniedError(
          absl::StrCat("command '", r.name,
                       "' carries a command line: the collector runs only "
                       "commands from its --commands-file; send the name"));
    }
    if (absl::Status st = ValidateCommandName(r.name); !st.ok()) return st;
    if (!seen.insert(r.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("command name '", r.name, "' is used twice"));
    }
    auto it = catalog.find(r.name);
    if (it == catalog.end()) {
      std::vector<std::string> known;
      for (const auto& [name, line] : catalog) known.push_back(name);
      return absl::PermissionDeniedError(
          absl::StrCat("unknown command '", r.name, "': the collector's --commands-file ",
                       known.empty() ? "defines no commands"
                                     : absl::StrCat("defines ", absl::StrJoin(known, ", ")),
                       "; nothing was run (its admin adds NAME=COMMAND LINE there)"));
    }
    out.push_back({r.name, it->second, r.critical});
  }
  return out;
}

absl::StatusOr<CommandOutput> RunCommand(const CommandSpec& spec, size_t max_output) {
  SubprocessOptions options;
  options.argv = {"/bin/sh", "-c", spec.command_line};
  options.stdout_output = SubprocessOutput::Capture(max_output);
  options.stderr_output = SubprocessOutput::Capture(4096, SubprocessOutput::Keep::kTail);
  absl::StatusOr<SubprocessResult> run = RunSubprocess(options);  // no timeout
  if (!run.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot start command '", spec.name, "': ", run.status().message()));
  }
  if (run->stdout_truncated()) {
    return absl::ResourceExhaustedError(absl::StrCat("command '", spec.name, "' wrote more than ",
                                                     max_output, " bytes to stdout: not stored"));
  }
  CommandOutput result;
  result.exit_status = run->exit_code;
  result.stdout_data = std::move(run->stdout_data);
  result.stderr_tail = std::move(run->stderr_data);
  result.duration_seconds = absl::ToDoubleSeconds(run->duration);
  return result;
}

}  // namespace arca
