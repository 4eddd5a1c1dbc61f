// The arca CLI in remote mode: drives jobs through an orchestrator's API
// (protos/arca/v1/orchestrator.proto) instead of running the pipeline here.
//
//   arca --orchestrator=ADDR [--tls-ca FILE] [--tls-cert FILE --tls-key FILE]
//        [--tls-server-name NAME] [--insecure] [--token-file FILE] COMMAND ...
//
// Global flags come before the command. Commands:
//   backup SOURCE [--exclude GLOB]... [--exclude-file FILE]... [--compression
//          zstd|xz|none] [--level N] [--one-file-system] [--command NAME]...
//          [--critical-command NAME]... [--space-safety-factor F]
//          (NAME: a command of the collector's --commands-file; NAME=CMD is a
//          usage error, exit 2: a request never carries a command line)
//          [--host NAME] [--parent SNAPSHOT] [--change-detection metadata|data]
//          [--ignore-ctime] [--collector ADDR] [--json] [--detach]
//          [--progress|--no-progress] [--metrics-textfile PATH]
//   restore SNAPSHOT TARGET [--include GLOB]... [--collector ADDR] [--json] [--detach]
//           [--progress|--no-progress] [--metrics-textfile PATH]
//   verify [SNAPSHOT] [--workers N] [--json] [--detach] [--progress|--no-progress]
//          [--metrics-textfile PATH]
//   snapshots [--group G] [--json]
//   jobs [--json]
//   watch JOB [--json] [--progress|--no-progress]
//   cancel JOB
// backup/restore/verify start a job and follow it (warnings on stderr; the
// job's progress events drawn by the CLI's progress display, on a terminal
// or with --progress: progress_display.h; --detach prints the job id and
// returns at once); backup prints the
// snapshot id on stdout. They and `watch` exit with the job's exit code
// (DESIGN.md §5); Ctrl-C asks the orchestrator to cancel the job (exit 130).
// Paths (SOURCE, TARGET) are on the collector's node: --collector ADDR names
// it (one of the orchestrator's --collector addresses; default: the next one,
// round robin). An RPC refused by the
// orchestrator exits 2 for bad input, an unknown job, a missing or wrong
// token (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, UNAUTHENTICATED,
// PERMISSION_DENIED), else 1 (e.g. the orchestrator is unreachable).
// --metrics-textfile PATH (job_textfile.h): checked before the job is started
// (exit 2; also with --detach, which cannot know the job's end); after the
// job, its final state is recorded in PATH on this machine. The group of a
// backup is its snapshot's, or for a backup that wrote none Job.group (the
// orchestrator's GroupName(host, SOURCE)).
#ifndef ARCA_TOOLS_ARCA_REMOTE_H_
#define ARCA_TOOLS_ARCA_REMOTE_H_

#include <string>
#include <vector>

namespace arca::cli {

// `args`: everything after the program name (global flags first). Returns
// the process exit code.
int RunRemote(const std::vector<std::string>& args);

}  // namespace arca::cli

#endif  // ARCA_TOOLS_ARCA_REMOTE_H_
