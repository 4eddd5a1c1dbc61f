#include "libs/pipeline/commands.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

extern char** environ;

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
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    return absl::UnavailableError(absl::StrCat("pipe: ", strerror(errno)));
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return absl::UnavailableError(absl::StrCat("pipe: ", strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  const char* argv[] = {"/bin/sh", "-c", spec.command_line.c_str(), nullptr};
  auto start = std::chrono::steady_clock::now();
  pid_t pid = 0;
  int rc = posix_spawn(&pid, "/bin/sh", &actions, nullptr, const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    return absl::UnavailableError(
        absl::StrCat("cannot start command '", spec.name, "' (/bin/sh): ", strerror(rc)));
  }

  CommandOutput result;
  std::string err_all;
  bool too_big = false;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
        continue;
      }
      ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      if (i == 0) {
        if (result.stdout_data.size() + n > max_output) {
          too_big = true;
        } else {
          result.stdout_data.append(buf, n);
        }
      } else {
        err_all.append(buf, n);
        if (err_all.size() > 8192) err_all.erase(0, err_all.size() - 4096);
      }
    }
  }
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  result.duration_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.exit_status = WIFEXITED(wstatus)     ? WEXITSTATUS(wstatus)
                       : WIFSIGNALED(wstatus) ? 128 + WTERMSIG(wstatus)
                                              : 1;
  result.stderr_tail = err_all.size() > 4096 ? err_all.substr(err_all.size() - 4096) : err_all;
  if (too_big) {
    return absl::ResourceExhaustedError(absl::StrCat("command '", spec.name, "' wrote more than ",
                                                     max_output, " bytes to stdout: not stored"));
  }
  return result;
}

}  // namespace arca
