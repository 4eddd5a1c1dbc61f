// The arca CLI, embedded mode: every phase of the pipeline runs in this
// process on a local repository. See README.md for the commands, flags and
// exit codes (DESIGN.md §5).
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "arca/v1/repository.pb.h"
#include "libs/base/cli_flags.h"
#include "libs/base/exit_codes.h"
#include "libs/base/labels.h"
#include "libs/base/phase_status.h"
#include "libs/base/status_macros.h"
#include "libs/chunker/chunker.h"
#include "libs/codec/codec.h"
#include "libs/fs/exclude.h"
#include "libs/fs/file_system.h"
#include "libs/pipeline/backup.h"
#include "libs/pipeline/cancel.h"
#include "libs/pipeline/progress.h"
#include "libs/pipeline/restore.h"
#include "libs/pipeline/verify.h"
#include "libs/store/forget.h"
#include "libs/store/gc.h"
#include "libs/store/open_repository.h"
#include "libs/store/repository.h"
#include "libs/store/repository_location.h"
#include "libs/store/retention.h"
#include "libs/store/s3_repository.h"
#include "tools/arca/export.h"
#include "tools/arca/inspect.h"
#include "tools/arca/key.h"
#include "tools/arca/job_textfile.h"
#include "tools/arca/mount.h"
#include "tools/arca/output.h"
#include "tools/arca/progress_display.h"
#include "tools/arca/remote.h"
#include "tools/arca/repo_args.h"
#include "tools/arca/secrets.h"

namespace arca::cli {
namespace {

constexpr char kUsage[] = R"(usage: arca COMMAND [ARGS] [FLAGS]

commands:
  init --repo DIR [--compression zstd|xz|none] [--level N]
  backup SOURCE --repo DIR [--exclude GLOB]... [--exclude-file FILE]...
         [--compression zstd|xz|none] [--level N] [--one-file-system]
         [--command NAME=CMD]... [--critical-command NAME=CMD]...
         [--space-safety-factor F] [--no-space-check] [--workers N] [--host NAME] [--json]
         [--change-detection metadata|data] [--parent SNAPSHOT] [--ignore-ctime]
         [--progress|--no-progress] [--metrics-textfile PATH]
  snapshots --repo DIR [--json]
  ls SNAPSHOT [PATH] --repo DIR [--recursive] [--include GLOB]... [--json]
      (every entry; with PATH that entry and, for a directory, its children,
      --recursive everything below it; --include keeps entries whose path or
      a parent's matches, as restore --include. A PATH not in the snapshot
      exits 2)
  cat SNAPSHOT --command NAME --repo DIR    (print a stored command's output)
  cat SNAPSHOT PATH --repo DIR    (write one regular file's bytes to stdout; a PATH
      not in the snapshot exits 2 like an unknown snapshot, as does a directory,
      symlink or device)
  diff SNAP1 SNAP2 --repo DIR [--json]    (entries added (+), removed (-) and
      modified (M, with what changed: type, size, mode, uid, gid, mtime, content,
      symlink_target, hardlink_target, device, xattrs, acl); exit 0 whether or
      not they differ)
  find PATTERN... --repo DIR [--group G] [--snapshot SNAPSHOT] [--json]
      (entries whose path, or a parent directory's, matches a PATTERN (--include
      syntax), in every snapshot newest first, or one group's, or one snapshot's:
      lines SNAPSHOT  TYPE  SIZE  MTIME  PATH; exit 0 even when nothing matches)
  restore SNAPSHOT TARGET --repo DIR [--include GLOB]... [--json] [--progress|--no-progress]
          [--overwrite always|if-changed|never] [--delete] [--file-workers N]
          [--metrics-textfile PATH]
          (--overwrite: what happens to entries already in TARGET: always replace
          them (the default), if-changed replace those whose type, size, mtime,
          mode or owner differ, never keep them (counted as skipped); --delete:
          afterwards remove what the snapshot lacks from the restored directories,
          with --include only inside the selected ones; refused for TARGET /;
          --file-workers: threads writing one file of 32 MiB or more at once
          by chunk ranges, 0 = the cores (at most 8, the default), 1 = in order)
  export SNAPSHOT --repo DIR [--include GLOB]... --format tar|tar.zst|tar.xz [-o FILE|-]
         (a POSIX pax archive GNU tar restores; to stdout without -o or with -o -)
  mount [SNAPSHOT|REPO] MOUNTPOINT --repo DIR [--allow-other]
        (read-only FUSE view: one snapshot's tree, or every snapshot as
        MOUNTPOINT/GROUP/TIME/; stays in the foreground until Ctrl-C, SIGTERM or
        fusermount3 -u MOUNTPOINT, then exits 0)
  verify [SNAPSHOT] --repo DIR [--workers N] [--json] [--progress|--no-progress]
         [--metrics-textfile PATH]
  forget --repo DIR [--group G] [--keep-last N] [--keep-hourly N] [--keep-daily N]
         [--keep-weekly N] [--keep-monthly N] [--keep-yearly N] [--keep-within DURATION]
         [--dry-run] [--json] [--prune [--stale-lock-minutes N] [--clock-slack-seconds N]]
         (remove snapshot records by policy, per group, restic's rules in UTC; N is a
         count or "unlimited"; DURATION is numbers with units y m w d h in that
         order, e.g. 30d, 12h, 2w, 1y2m, relative to the group's newest snapshot.
         At least one rule is required. Chunks stay: --prune then runs `arca gc`
         (not in a dry run) to free the chunks no snapshot references)
  gc --repo DIR [--dry-run] [--json] [--stale-lock-minutes N] [--clock-slack-seconds N]
     (remove chunks no snapshot references, crash leftovers and stale locks;
     safe while backups run on a directory: see docs/formats/repository.md)

Progress (backup, restore, verify): a live line on stderr when it is a terminal
(JSON lines with --json); --progress forces it, --no-progress turns it off.
--metrics-textfile PATH: after the job, add its metrics to PATH for node_exporter's
textfile collector (one file per host for every arca job; see README.md).

SNAPSHOT is an id as printed by backup, "latest", or GROUP/latest.
ARCA_REPO may stand for --repo. Exit codes: see README.md.
--repo DIR or --repo s3://BUCKET[/PREFIX] (S3-compatible object storage): endpoint
AWS_ENDPOINT_URL or --s3-endpoint URL, credentials AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN), region AWS_REGION (us-east-1); every
command with --repo also takes [--s3-addressing=path|virtual] [--s3-ca FILE]
[--s3-retries N] [--s3-timeout SECONDS] [--limit-upload RATE (e.g. 20M)].
On object storage gc and backups exclude each other (see README.md).

remote mode (jobs run by the services of an orchestrator, tools/arca/remote.h):
  arca --orchestrator=ADDR [--tls-ca F] [--tls-cert F --tls-key F] [--insecure]
       [--token-file F] backup|restore|verify|forget|gc|snapshots|jobs|watch|cancel ...
  (backup, restore and verify take --metrics-textfile PATH there too; restore
  takes --include, --overwrite and --delete, the collector applies them; backup's
  --command NAME / --critical-command NAME name commands of the collector's
  --commands-file: no =CMD in remote mode; forget takes the --keep-* flags,
  --group, --dry-run and --prune (a gc in the same job), gc --dry-run and
  --stale-lock-minutes: both run on an uploader, where the repository is)
)";

CancelToken g_cancel;

void OnSignal(int) { g_cancel.Cancel(); }

int Exit(ExitCode code) { return static_cast<int>(code); }

int UsageError(const std::string& message) {
  std::cerr << "arca: " << message << "\n";
  return Exit(ExitCode::kUsage);
}

int Report(const absl::Status& status, ExitCode code) {
  std::cerr << "arca: " << status.message() << " (exit " << static_cast<int>(code) << ")\n";
  return Exit(code);
}

// ParseArgs with the S3 flags (open_repository.h) added: every command that
// names a repository takes them.
absl::StatusOr<ParsedArgs> ParseRepoArgs(const std::vector<std::string>& argv, FlagSpec spec) {
  AddRepositoryFlags(&spec);
  return ParseArgs(argv, spec);
}

// The S3 settings of the environment and the command's S3 flags.

absl::StatusOr<std::string> RepoPath(const ParsedArgs& args) {
  std::string path;
  if (auto r = args.Last("repo")) {
    path = *r;
  } else if (const char* env = std::getenv("ARCA_REPO"); env && *env) {
    path = env;
  } else {
    return absl::InvalidArgumentError("no repository: pass --repo DIR or set ARCA_REPO");
  }
  // "gs://bucket" must not become a local directory named "gs:" (exit 2).
  if (absl::Status st = CheckRepositoryLocation(path); !st.ok()) return st;
  // Bad S3 flags, no endpoint or no credentials: exit 2.
  ASSIGN_OR_RETURN(RepositoryOpenOptions options, RepositoryOpenOptionsFromArgs(args));
  RETURN_IF_ERROR(CheckRepositoryOpenOptions(path, options));
  return path;
}

absl::StatusOr<int> IntFlag(const ParsedArgs& args, const std::string& name, int fallback) {
  auto v = args.Last(name);
  if (!v) return fallback;
  int out;
  if (!absl::SimpleAtoi(*v, &out)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --", name, " '", *v, "': not an integer"));
  }
  return out;
}

std::string Hostname() {  // as RunBackup names the host of a snapshot group
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

// A job that failed before its pipeline ran (repository missing: exit 4).
metrics::JobOutcome EarlyFailure(const std::string& type, const std::string& group, int code,
                                 std::chrono::system_clock::time_point start) {
  metrics::JobOutcome o;
  o.type = type;
  o.group = group;
  o.exit_code = FinalExitCode(code, g_cancel.cancelled());
  o.failed_phase = v1::PHASE_SETUP;
  o.start = start;
  o.end = std::chrono::system_clock::now();
  return o;
}

// Opens the repository or reports exit 4.
std::unique_ptr<Repository> OpenRepo(const ParsedArgs& args, int* exit_code) {
  absl::StatusOr<std::string> path = RepoPath(args);
  if (!path.ok()) {
    *exit_code = UsageError(std::string(path.status().message()));
    return nullptr;
  }
  absl::StatusOr<RepositoryOpenOptions> options = RepositoryOpenOptionsFromArgs(args);
  absl::StatusOr<std::unique_ptr<Repository>> repo =
      options.ok() ? OpenRepositoryAt(*path, *options) : options.status();
  if (!repo.ok()) {
    *exit_code = Report(repo.status(), ExitCode::kRepository);
    return nullptr;
  }
  return std::move(*repo);
}

// The start of a backup, restore or verify, which records itself in
// --metrics-textfile: the textfile flag and --repo are checked first (usage
// errors, exit 2, nothing recorded); from then on the job has started, and a
// repository that cannot be opened (exit 4) is recorded as its failure.
struct RecordedJob {
  std::optional<std::string> textfile;
  std::chrono::system_clock::time_point start;
  std::unique_ptr<Repository> repo;
};

// 0 and *job filled, or the exit code to return.
int BeginRecordedJob(const ParsedArgs& args, const std::string& type, const std::string& group,
                     RecordedJob* job) {
  job->textfile = args.Last(kMetricsTextfileFlag);
  if (absl::Status st = CheckTextfileFlag(job->textfile); !st.ok()) {
    return UsageError(std::string(st.message()));
  }
  if (absl::StatusOr<std::string> path = RepoPath(args); !path.ok()) {
    return UsageError(std::string(path.status().message()));
  }
  job->start = std::chrono::system_clock::now();
  int code = 0;
  job->repo = OpenRepo(args, &code);
  if (!job->repo) {
    WriteTextfileFlag(job->textfile, EarlyFailure(type, group, code, job->start), std::nullopt);
    return code;
  }
  return 0;
}

// The key and first slot of a new encrypted repository: a new key file
// (--new-key-file, written before the repository; removed again if init
// fails) or a password (--password-file or asked twice). 0 or an exit code.
int NewEncryptionKey(const ParsedArgs& args, NewRepositoryKey* out) {
  absl::StatusOr<int> n = IntFlag(args, "scrypt-n", static_cast<int>(ScryptParams{}.n));
  if (!n.ok()) return UsageError(std::string(n.status().message()));
  ScryptParams params;
  params.n = static_cast<uint64_t>(*n);
  if (absl::Status st = CheckScryptParams(params); !st.ok()) {
    return UsageError(absl::StrCat("--scrypt-n: ", st.message()));
  }
  RepositorySecret secret;
  if (auto path = args.Last("new-key-file")) {
    secret.key_file = GenerateKeyFileSecret();
    if (absl::Status st = WriteKeyFile(*path, *secret.key_file); !st.ok()) {
      return UsageError(std::string(st.message()));
    }
  } else {
    std::optional<std::string> file = args.Last(kPasswordFileFlag);
    if (const char* env = std::getenv("ARCA_PASSWORD_FILE"); !file && env && *env) file = env;
    absl::StatusOr<std::string> pw = NewPassword(file,
                                                 "a password for the new repository",
                                                 kPasswordFileFlag);
    if (!pw.ok()) return UsageError(std::string(pw.status().message()));
    secret.password = *std::move(pw);
  }
  absl::StatusOr<NewRepositoryKey> key =
      MakeNewRepositoryKey(NewRepositoryId(), secret, params, args.Last("label").value_or(""));
  if (!key.ok()) return UsageError(std::string(key.status().message()));
  *out = *std::move(key);
  return 0;
}

int CmdInit(const std::vector<std::string>& argv) {
  auto args = ParseRepoArgs(argv, {{"repo", "compression", "level", "encryption",
                                    "new-key-file", "scrypt-n", "label"},
                                   {}});
  if (!args.ok()) return UsageError(std::string(args.status().message()));
  if (!args->positional.empty()) return UsageError("init takes no arguments");
  absl::StatusOr<std::string> path = RepoPath(*args);
  if (!path.ok()) return UsageError(std::string(path.status().message()));
  absl::StatusOr<Codec> codec = ParseCodec(args->Last("compression").value_or("zstd"));
  if (!codec.ok()) return UsageError(std::string(codec.status().message()));
  absl::StatusOr<int> level = IntFlag(*args, "level", DefaultLevel(*codec));
  if (!level.ok()) return UsageError(std::string(level.status().message()));
  if (absl::Status st = ValidateLevel(*codec, *level); !st.ok()) {
    return UsageError(std::string(st.message()));
  }
  v1::RepositoryConfig config;
  *config.mutable_payload_chunker() = ChunkerParams::PayloadDefault().ToProto();
  *config.mutable_metadata_chunker() = ChunkerParams::MetadataDefault().ToProto();
  config.set_default_codec(static_cast<v1::Codec>(*codec));
  config.set_default_level(*level);
  absl::StatusOr<RepositoryOpenOptions> options = RepositoryOpenOptionsFromArgs(*args);
  if (!options.ok()) return UsageError(std::string(options.status().message()));
  std::optional<NewRepositoryKey> encryption;
  if (auto e = args->Last("encryption"); e && *e != "none") {
    if (*e != kEncryptionAes256Gcm) {
      return UsageError(absl::StrCat("--encryption '", *e, "' is not supported: use ",
                                     kEncryptionAes256Gcm, " or none"));
    }
    config.set_encryption(kEncryptionAes256Gcm);
    encryption.emplace(NewRepositoryKey{RepositoryKey::Generate(), {}});
    if (int code = NewEncryptionKey(*args, &*encryption); code != 0) return code;
  } else if (args->Last("new-key-file") || args->Last("scrypt-n")) {
    return UsageError("--new-key-file and --scrypt-n need --encryption aes-256-gcm");
  }
  absl::StatusOr<std::unique_ptr<Repository>> repo =
      InitRepositoryAt(*path, config, *options, encryption ? &*encryption : nullptr);
  if (!repo.ok()) {
    if (auto kf = args->Last("new-key-file"); kf && encryption) ::unlink(kf->c_str());
    return Report(repo.status(), ExitCode::kRepository);
  }
  std::cout << "initialised " << (encryption ? "encrypted (aes-256-gcm) " : "")
            << "arca repository " << (*repo)->config().repository_id() << " at " << *path;
  if (encryption) {
    std::cout << ", key slot " << encryption->slot.id() << " (" << encryption->slot.kind()
              << "): without it the data cannot be read, keep it safe";
  }
  std::cout << "\n";
  return 0;
}

int CmdKey(const std::vector<std::string>& argv) {
  auto args = ParseRepoArgs(argv, {{"repo", "new-key-file", "new-password-file", "scrypt-n",
                                    "label"},
                                   {"json"}});
  if (!args.ok()) return UsageError(std::string(args.status().message()));
  if (args->positional.empty()) return UsageError("key needs list, add or remove");
  const std::string sub = args->positional[0];
  if (sub != "list" && sub != "add" && sub != "remove") {
    return UsageError(absl::StrCat("unknown key command '", sub, "': use list, add or remove"));
  }
  if (sub == "remove" && args->positional.size() != 2) return UsageError("key remove needs ID");
  if (sub != "remove" && args->positional.size() != 1) {
    return UsageError(absl::StrCat("key ", sub, " takes no arguments"));
  }
  AddKeyOptions add;
  if (sub == "add") {
    absl::StatusOr<int> n = IntFlag(*args, "scrypt-n", static_cast<int>(ScryptParams{}.n));
    if (!n.ok()) return UsageError(std::string(n.status().message()));
    add.scrypt.n = static_cast<uint64_t>(*n);
    if (absl::Status st = CheckScryptParams(add.scrypt); !st.ok()) {
      return UsageError(absl::StrCat("--scrypt-n: ", st.message()));
    }
    add.label = args->Last("label").value_or("");
    add.new_key_file = args->Last("new-key-file");
  }
  int code = 0;
  std::unique_ptr<Repository> repo = OpenRepo(*args, &code);
  if (!repo) return code;
  if (sub == "list") return ListKeys(*repo, args->Has("json"));
  if (sub == "remove") return RemoveKey(*repo, args->positional[1]);
  if (!add.new_key_file) {
    absl::StatusOr<std::string> pw =
        NewPassword(args->Last("new-password-file"), "the new password", "new-password-file");
    if (!pw.ok()) return UsageError(std::string(pw.status().message()));
    add.new_password = *std::move(pw);
  }
  return AddKey(*repo, add);
}

std::string StatsSummary(const v1::BackupStats& s) {
  double secs = s.duration_seconds() > 0 ? s.duration_seconds() : 1e-9;
  return absl::StrCat(
      "files ", s.files(), ", directories ", s.directories(), ", other ", s.other_entries(),
      s.files_skipped() ? absl::StrCat(", skipped ", s.files_skipped()) : "", "\n", "read ",
      HumanBytes(s.bytes_collected()), " in ", absl::StrFormat("%.2f", s.duration_seconds()),
      " s (", HumanBytes(static_cast<uint64_t>(s.bytes_collected() / secs)), "/s)\n", "new chunks ",
      s.chunks_new(), " of ", s.chunks_total(), ": ", HumanBytes(s.bytes_new_raw()), " -> ",
      HumanBytes(s.bytes_new_stored()), " stored (ratio ",
      absl::StrFormat("%.3f", s.compression_ratio()), "), deduplicated ",
      HumanBytes(s.bytes_deduplicated()), "\n",
      s.parent_snapshot().empty()
          ? std::string("")
          : absl::StrCat("parent ", s.parent_snapshot(), ": reused ", s.files_reused(), " files (",
                         HumanBytes(s.bytes_reused()), ") without reading them, read ",
                         s.files_read(), " (", s.files_new(), " new), padding ",
                         HumanBytes(s.padding_bytes()), "\n"));
}

int CmdBackup(const std::vector<std::string>& argv) {
  auto args = ParseRepoArgs(
      argv,
      {{"repo", "exclude", "exclude-file", "compression", "level", "command", "critical-command",
        "space-safety-factor", "workers", "host", "parent", "change-detection", "label",
        kMetricsTextfileFlag},
       {"json", "one-file-system", "ignore-ctime", "progress", "no-progress", "no-space-check"}});
  if (!args.ok()) return UsageError(std::string(args.status().message()));
  if (args->positional.size() != 1) return UsageError("backup needs exactly one SOURCE directory");
  const bool json = args->Has("json");

  BackupOptions options;
  char resolved[PATH_MAX];
  const std::string& src = args->positional[0];
  if (realpath(src.c_str(), resolved) != nullptr) {
    options.source = resolved;
  } else {
    // Let the collection phase report it (exit 9) with its own message.
    options.source =
        src[0] == '/' ? src : absl::StrCat(getcwd(resolved, sizeof(resolved)), "/", src);
  }
  options.excludes = args->All("exclude");
  for (const std::string& file : args->All("exclude-file")) {
    absl::StatusOr<std::vector<std::string>> pats = fs::PathMatcher::ReadPatternFile(file);
    if (!pats.ok()) return UsageError(std::string(pats.status().message()));
    options.excludes.insert(options.excludes.end(), pats->begin(), pats->end());
  }
  options.one_file_system = args->Has("one-file-system");
  absl::StatusOr<std::map<std::string, std::string>> labels =
      ParseLabelFlags(args->All("label"), "--label");
  if (!labels.ok()) return UsageError(std::string(labels.status().message()));
  options.labels = *std::move(labels);
  for (const std::string& c : args->All("command")) {
    auto spec = ParseCommandSpec(c, false);
    if (!spec.ok()) return UsageError(std::string(spec.status().message()));
    options.commands.push_back(*spec);
  }
  for (const std::string& c : args->All("critical-command")) {
    auto spec = ParseCommandSpec(c, true);
    if (!spec.ok()) return UsageError(std::string(spec.status().message()));
    options.commands.push_back(*spec);
  }
  if (auto f = args->Last("space-safety-factor")) {
    if (!absl::SimpleAtod(*f, &options.space_safety_factor)) {
      return UsageError(absl::StrCat("invalid --space-safety-factor '", *f, "': not a number"));
    }
  }
  options.space_check = !args->Has("no-space-check");
  absl::StatusOr<int> workers = IntFlag(*args, "workers", 0);
  if (!workers.ok()) return UsageError(std::string(workers.status().message()));
  if (*workers < 0 || *workers > 256) return UsageError("invalid --workers: use 0..256");
  options.workers = *workers;
  options.host = args->Last("host").value_or("");
  options.parent = args->Last("parent").value_or("");
  options.ignore_ctime = args->Has("ignore-ctime");
  if (auto mode = args->Last("change-detection")) {
    if (*mode == "data") {
      options.metadata_change_detection = false;
    } else if (*mode != "metadata") {
      return UsageError(
          absl::StrCat("invalid --change-detection '", *mode, "': use metadata or data"));
    }
  }

  // Validate the codec flags before touching the repository.
  std::optional<Codec> codec;
  if (auto c = args->Last("compression")) {
    absl::StatusOr<Codec> parsed = ParseCodec(*c);
    if (!parsed.ok()) return UsageError(std::string(parsed.status().message()));
    codec = *parsed;
  }
  absl::StatusOr<int> level = IntFlag(*args, "level", -1);
  if (!level.ok()) return UsageError(std::string(level.status().message()));
  const std::string group =
      Repository::GroupName(options.host.empty() ? Hostname() : options.host, options.source);
  RecordedJob job;
  if (int code = BeginRecordedJob(*args, "backup", group, &job); code != 0) return code;
  const std::optional<std::string>& textfile = job.textfile;
  const auto start = job.start;
  std::unique_ptr<Repository> repo = std::move(job.repo);
  options.codec = codec.value_or(static_cast<Codec>(repo->config().default_codec()));
  options.level = *level >= 0 ? *level
                  : codec     ? DefaultLevel(*codec)
                              : repo->config().default_level();

  Progress progress;
  options.progress = &progress;
  ProgressDisplay display(&progress, StderrDisplayOptions("backup", args->Has("progress"),
                                                          args->Has("no-progress"), json));
  display.Start();
  BackupResult r = RunBackup(*repo, fs::DefaultFileSystem(), options, &g_cancel);
  display.Finish(r.status.ok());
  const int exit_code = FinalExitCode(static_cast<int>(r.exit_code), g_cancel.cancelled());
  // The phase the exit-code policy reports with r.exit_code (ExitCodeOf): the
  // attached one, or setup for a phase-less INVALID_ARGUMENT / NOT_FOUND.
  std::optional<std::string> textfile_warning;
  if (textfile) {
    metrics::JobOutcome outcome;
    outcome.type = "backup";
    outcome.group = r.manifest.group().empty() ? group : r.manifest.group();
    outcome.exit_code = exit_code;
    outcome.failed_phase = r.status.ok() ? v1::PHASE_UNSPECIFIED : FailedPhaseOf(r.status);
    outcome.start = start;
    outcome.end = std::chrono::system_clock::now();
    if (r.manifest.has_stats()) outcome.backup_stats = r.manifest.stats();
    textfile_warning =
        WriteTextfileFlag(textfile, outcome, NewestSnapshotTime(*repo, outcome.group));
  }
  if (json) {
    std::string warnings;
    for (const v1::Warning& w : r.warnings) {
      absl::StrAppend(&warnings, warnings.empty() ? "" : ",", WarningJson(w));
    }
    if (textfile_warning) {  // a notice in the same list (phase "unspecified")
      v1::Warning w;
      w.set_path(*textfile);
      w.set_message(*textfile_warning);
      absl::StrAppend(&warnings, warnings.empty() ? "" : ",", WarningJson(w));
    }
    std::cout << "{\"snapshot\":" << JsonString(r.manifest.id())
              << ",\"exit_code\":" << static_cast<int>(r.exit_code) << ",\"error\":"
              << (r.status.ok() ? "null" : JsonString(std::string(r.status.message())))
              << ",\"failed_phase\":"
              << (r.status.ok()
                      ? "null"
                      : absl::StrCat("\"", std::string(PhaseName(FailedPhaseOf(r.status))), "\""))
              << ",\"stats\":" << (r.status.ok() ? ProtoJson(r.manifest.stats()) : "null")
              << ",\"warnings\":[" << warnings << "]";
    // Every request of this command (open, locks, listing, chunks, indexes).
    if (auto* s3_repo = dynamic_cast<S3Repository*>(repo.get())) {
      std::cout << ",\"s3_requests\":" << S3RequestsJson(s3_repo->client()->Counts());
    }
    std::cout << "}\n";
  } else {
    for (const v1::Warning& w : r.warnings) {
      std::cerr << "warning: " << w.path() << ": " << w.message() << "\n";
    }
    if (r.status.ok()) {
      std::cout << r.manifest.id() << "\n";
      std::cerr << StatsSummary(r.manifest.stats());
      if (r.exit_code == ExitCode::kPartial) {
        std::cerr << "snapshot written, but " << r.warnings.size()
                  << " problem(s) above: some source data is missing from it (exit 3)\n";
      }
    } else {
      std::cerr << "arca: backup failed";
      if (FailedPhaseOf(r.status) != v1::PHASE_UNSPECIFIED) {
        std::cerr << " in phase " << PhaseName(FailedPhaseOf(r.status));
      }
      std::cerr << ": " << r.status.message() << " (exit " << static_cast<int>(r.exit_code)
                << ")\n";
    }
  }
  return Exit(r.exit_code);
}

int CmdSnapshots(const std::vector<std::string>& argv) {
  auto args = ParseRepoArgs(argv, {{"repo", "group", "label"}, {"json"}});
  if (!args.ok()) return UsageError(std::string(args.status().message()));
  absl::StatusOr<std::map<std::string, std::string>> selector =
      ParseLabelFlags(args->All("label"), "--label");
  if (!selector.ok()) return UsageError(std::string(selector.status().message()));
  int code = 0;
  auto repo = OpenRepo(*args, &code);
  if (!repo) return code;
  absl::StatusOr<std::vector<v1::Manifest>> list =
      repo->ListSnapshots(args->Last("group").value_or(""));
  if (!list.ok()) return Report(list.status(), ExitCode::kVerification);
  std::erase_if(*list, [&](const v1::Manifest& m) { return !HasLabels(m.labels(), *selector); });
  if (args->Has("json")) {
    std::cout << "[";
    for (size_t i = 0; i < list->size(); ++i) {
      v1::Manifest m = (*list)[i];
      m.clear_warnings();  // raw path bytes: see `arca backup --json`
      std::cout << (i ? ",\n" : "\n") << ProtoJson(m);
    }
    std::cout << "\n]\n";
    return 0;
  }
  std::cout << absl::StrFormat("%-60s %-29s %8s %10s %10s %s\n", "ID", "TIME (UTC)", "FILES",
                               "SIZE", "ADDED", "LABELS");
  for (const v1::Manifest& m : *list) {
    std::cout << absl::StrFormat("%-60s %-29s %8d %10s %10s %s\n", m.id(),
                                 TimeString(m.time_unix_ns()), m.stats().files(),
                                 HumanBytes(m.stats().bytes_collected()),
                                 HumanBytes(m.stats().bytes_new_stored()), LabelsText(m.labels()));
  }
  return 0;
}

int CmdLs(const std::vector<std::string>& argv) {
  auto args = ParseRepoArgs(argv, {{"repo", "include"}, {"json", "recursive"}});
  if (!args.ok()) return UsageError(std::string(args.status().message()));
  if (args->positional.empty() || args->positional.size() > 2) {
    return UsageError("ls needs a SNAPSHOT and at most one PATH");
  }
  ListOptions options;
  if (args->positional.size() == 2) options.path = args->positional[1];
  options.recursive = args->Has("recursive");
  options.includes = args->All("include");
  if (absl::StatusOr<fs::PathMatcher> m = fs::PathMatcher::Create(options.includes); !m.ok()) {
    return UsageError(std::string(m.status().message()));
  }
  int code = 0;
  auto repo = OpenRepo(*args, &code);
  if (!repo) return code;
  const bool json = args->Has("json");
  bool first = true;
  if (json) std::cout << "[";
  absl::Status st = ListSnapshotEntries(*repo, args->positional[0], options, [&](const v1::Entry& e) {
    if (json) {
      std::cout << (first ? "\n" : ",\n") << EntryJson(e);
    } else {
      std::string line = absl::StrFormat(
          "%s %5d/%-5d %12d %s %s", ModeString(e.type(), e.mode()), e.uid(), e.gid(), e.size(),
          TimeString(e.mtime_ns()).substr(0, 19), e.path().empty() ? "." : e.path());
      if (e.type() == v1::ENTRY_TYPE_SYMLINK) absl::StrAppend(&line, " -> ", e.symlink_target());
      if (e.type() == v1::ENTRY_TYPE_HARDLINK)
        absl::StrAppend(&line, " link to ", e.hardlink_target());
      std::cout << line << "\n";
    }
    first = false;
    return absl::OkStatus();
  });
  if (json) std::cout << "\n]\n";
  if (!st.ok()) {
    // An unknown snapshot or PATH, a bad PATH: usage (2); damage: 8.
    const bool usage = st.code() == absl::StatusCode::kNotFound ||
                       st.code() == absl::StatusCode::kInvalidArgument;
    return Report(st, usage ? ExitCode::kUsage : ExitCode::kVerification);
  }
  return 0;
}

int CmdCat(const std::vector<std::string>& argv) {
  auto args = ParseRepoArgs(argv, {{"repo", "command"}, {}});
  if (!args.ok()) return UsageError(std::string(args.status().message()));
  const bool command = args->Last("command").has_value();
  if (args->positional.size() != (command ? 1 : 2)) {
    return UsageError("usage: arca cat SNAPSHOT PATH, or arca cat SNAPSHOT --command NAME");
  }
  int code = 0;
  auto repo = OpenRepo(*args, &code);
  if (!repo) return code;
  if (!command) return CatFileToStdout(*repo, args->positional[0], args->positional[1]);
  absl::StatusOr<std::string> out =
      ReadCommandOutput(*repo, args->positional[0], *args->Last("command"));
  if (!out.ok()) {
    return Report(out.status(), out.status().code() == absl::StatusCode::kNotFound
                                    ? ExitCode::kUsage
                                    : ExitCode::kVerification);
  }
  std::cout << *out;
  return 0;
}

int CmdDiff(const std::vector<std::string>& argv) {
  auto args = ParseRepoArgs(argv, {{"repo"}, {"json"}});
  if (!args.ok()) return UsageError(std::string(args.status().message()));
  if (args->positional.size() != 2) return UsageError("diff needs SNAP1 and SNAP2");
  int code = 0;
  auto repo = OpenRepo(*args, &code);
  if (!repo) return code;
  return PrintSnapshotDiff(*repo, args->positional[0], args->positional[1], args->Has("json"));
}

int CmdFind(const std::vector<std::string>& argv) {
  auto args = ParseRepoArgs(argv, {{"repo", "group", "snapshot"}, {"json"}});
  if (!args.ok()) return UsageError(std::string(args.status().message()));
  if (args->positional.empty()) return UsageError("find needs at least one PATTERN");
  if (args->Last("group") && args->Last("snapshot")) {
    return UsageError("find takes --group or --snapshot, not both");
  }
  FindOptions options;
  options.patterns = args->positional;
  options.group = args->Last("group").value_or("");
  options.snapshot = args->Last("snapshot").value_or("");
  int code = 0;
  auto repo = OpenRepo(*args, &code);
  if (!repo) return code;
  return PrintFind(*repo, options, args->Has("json"));
}

int CmdExport(const std::vector<std::string>& argv) {
  auto args = ParseRepoArgs(ExportArgv(argv), ExportFlagSpec());
  if (!args.ok()) return UsageError(std::string(args.status().message()));
  absl::StatusOr<ExportRequest> request = ParseExportRequest(*args);
  if (!request.ok()) return UsageError(std::string(request.status().message()));
  int code = 0;
  auto repo = OpenRepo(*args, &code);
  if (!repo) return code;
  return RunExport(*request, *repo, &g_cancel);
}

int CmdRestore(const std::vector<std::string>& argv) {
  auto args = ParseRepoArgs(
      argv, {{"repo", "include", "overwrite", "file-workers", kMetricsTextfileFlag},
             {"json", "progress", "no-progress", "delete"}});
  if (!args.ok()) return UsageError(std::string(args.status().message()));
  if (args->positional.size() != 2) return UsageError("restore needs SNAPSHOT and TARGET");
  absl::StatusOr<OverwritePolicy> overwrite =
      ParseOverwritePolicy(args->Last("overwrite").value_or("always"));
  if (!overwrite.ok()) return UsageError(std::string(overwrite.status().message()));
  absl::StatusOr<int> file_workers = IntFlag(*args, "file-workers", 0);
  if (!file_workers.ok()) return UsageError(std::string(file_workers.status().message()));
  if (*file_workers < 0 || *file_workers > 64) {
    return UsageError(absl::StrCat("invalid --file-workers ", *file_workers,
                                   ": use 1..64 (1 writes every file in order), or 0 for the "
                                   "machine's cores"));
  }
  RecordedJob job;
  if (int code = BeginRecordedJob(*args, "restore", "", &job); code != 0) return code;
  const std::optional<std::string>& textfile = job.textfile;
  const auto start = job.start;
  std::unique_ptr<Repository> repo = std::move(job.repo);
  RestoreOptions options;
  options.target = args->positional[1];
  options.includes = args->All("include");
  options.overwrite = *overwrite;
  options.delete_extraneous = args->Has("delete");
  options.file_workers = *file_workers;
  Progress progress;
  options.progress = &progress;
  ProgressDisplay display(
      &progress, StderrDisplayOptions("restore", args->Has("progress"), args->Has("no-progress"),
                                      args->Has("json")));
  display.Start();
  RestoreResult r = RunRestore(*repo, args->positional[0], options, &g_cancel);
  display.Finish(r.status.ok());
  metrics::JobOutcome outcome;
  outcome.type = "restore";
  outcome.exit_code = FinalExitCode(static_cast<int>(r.exit_code), g_cancel.cancelled());
  outcome.failed_phase = r.status.ok() ? v1::PHASE_UNSPECIFIED : PhaseOf(r.status);
  outcome.start = start;
  outcome.end = std::chrono::system_clock::now();
  const std::optional<std::string> textfile_warning =
      WriteTextfileFlag(textfile, outcome, std::nullopt);
  for (const v1::Warning& w : r.warnings) {
    std::cerr << "warning: " << w.path() << ": " << w.message() << "\n";
  }
  for (const v1::Warning& w : r.damaged_files) {
    std::cerr << "damaged: " << w.path() << ": " << w.message() << "\n";
  }
  if (!args->Has("json")) PrintRestoreChanges(r.skipped, r.deleted, r.deleted_paths);
  if (args->Has("json")) {
    std::string damaged;
    for (const v1::Warning& w : r.damaged_files) {
      absl::StrAppend(&damaged, damaged.empty() ? "" : ",", "{\"path\":", JsonString(w.path()),
                      ",\"message\":", JsonString(w.message()), "}");
    }
    std::cout << "{\"snapshot\":" << JsonString(r.snapshot_id)
              << ",\"exit_code\":" << static_cast<int>(r.exit_code) << ",\"entries\":" << r.entries
              << ",\"bytes\":" << r.bytes << ",\"skipped\":" << r.skipped
              << ",\"deleted\":" << r.deleted
              << ",\"deleted_paths\":" << JsonStrings(r.deleted_paths)
              << ",\"damaged_files\":[" << damaged << "]"
              << ",\"error\":"
              << (r.status.ok() ? "null" : JsonString(std::string(r.status.message())));
    if (textfile_warning) std::cout << ",\"metrics_warning\":" << JsonString(*textfile_warning);
    std::cout << "}\n";
  } else if (r.status.ok()) {
    std::cerr << "restored " << r.entries << " entries, " << HumanBytes(r.bytes) << " from "
              << r.snapshot_id << " to " << options.target << "\n";
  } else if (!r.damaged_files.empty()) {
    std::cerr << "restored " << r.entries << " entries, " << HumanBytes(r.bytes) << " from "
              << r.snapshot_id << " to " << options.target << "; " << r.damaged_files.size()
              << " damaged file(s) NOT restored (listed above; each keeps only its intact "
                 "beginning)\n";
  }
  if (!r.status.ok() && !args->Has("json")) return Report(r.status, r.exit_code);
  return Exit(r.exit_code);
}

int CmdVerify(const std::vector<std::string>& argv) {
  auto args = ParseRepoArgs(
      argv, {{"repo", "workers", kMetricsTextfileFlag},
             {"json", "progress", "no-progress", "no-key"}});
  if (!args.ok()) return UsageError(std::string(args.status().message()));
  if (args->positional.size() > 1) return UsageError("verify takes at most one SNAPSHOT");
  // Without a key source an encrypted repository is verified as far as
  // that is possible: frames and CRCs.
  if (!HasSecretSource(*args)) args->bools.insert("no-key");
  absl::StatusOr<int> workers = IntFlag(*args, "workers", 0);
  if (!workers.ok()) return UsageError(std::string(workers.status().message()));
  RecordedJob job;
  if (int code = BeginRecordedJob(*args, "verify", "", &job); code != 0) return code;
  const std::optional<std::string>& textfile = job.textfile;
  const auto start = job.start;
  std::unique_ptr<Repository> repo = std::move(job.repo);
  Progress progress;
  ProgressDisplay display(
      &progress, StderrDisplayOptions("verify", args->Has("progress"), args->Has("no-progress"),
                                      args->Has("json")));
  display.Start();
  const bool without_key = repo->encrypted() && repo->key() == nullptr;
  if (without_key && !args->positional.empty()) {
    return UsageError("verify SNAPSHOT of an encrypted repository needs its key (without it only "
                      "the whole repository's frames can be checked)");
  }
  VerifyResult r =
      without_key ? RunVerifyWithoutKey(*repo, &g_cancel, &progress)
                  : RunVerify(*repo, args->positional.empty() ? "" : args->positional[0],
                              &g_cancel, *workers, &progress);
  if (without_key && !args->Has("json")) {
    std::cerr << "arca: " << repo->path()
              << " is encrypted and no key was given: checked the frames and CRC32Cs of "
              << r.chunks << " chunk(s) and " << r.snapshots
              << " snapshot file(s) only; give the password or key file to check everything\n";
  }
  // Problems found still mean every chunk was read.
  display.Finish(r.exit_code == ExitCode::kSuccess || !r.problems.empty());
  metrics::JobOutcome outcome;
  outcome.type = "verify";
  outcome.exit_code = FinalExitCode(static_cast<int>(r.exit_code), g_cancel.cancelled());
  outcome.failed_phase = r.exit_code == ExitCode::kSuccess ? v1::PHASE_UNSPECIFIED
                         : !r.problems.empty()             ? v1::PHASE_VERIFICATION
                                                           : PhaseOf(r.status);
  outcome.start = start;
  outcome.end = std::chrono::system_clock::now();
  const std::optional<std::string> textfile_warning =
      WriteTextfileFlag(textfile, outcome, std::nullopt);
  if (args->Has("json")) {
    std::string problems;
    for (const std::string& p : r.problems) {
      absl::StrAppend(&problems, problems.empty() ? "" : ",", JsonString(p));
    }
    std::string damaged;  // snapshot id → paths
    for (const auto& [id, paths] : r.damaged_files) {
      absl::StrAppend(&damaged, damaged.empty() ? "" : ",", JsonString(id), ":",
                      JsonStrings(paths));
    }
    std::cout << "{\"exit_code\":" << static_cast<int>(r.exit_code)
              << ",\"snapshots\":" << r.snapshots << ",\"chunks\":" << r.chunks
              << ",\"bytes\":" << r.bytes << ",\"entries\":" << r.entries << ",\"problems\":["
              << problems << "],\"damaged_files\":{" << damaged
              << "},\"bad_chunk_files\":" << JsonStrings(r.bad_chunk_files)
              << ",\"with_key\":" << (without_key ? "false" : "true");
    if (textfile_warning) std::cout << ",\"metrics_warning\":" << JsonString(*textfile_warning);
    std::cout << "}\n";
    return Exit(r.exit_code);
  }
  for (const std::string& p : r.problems) std::cerr << "corrupt: " << p << "\n";
  for (const auto& [id, paths] : r.damaged_files) {
    std::cerr << "snapshot " << id << ": " << paths.size()
              << " damaged file(s) (back them up again to heal the repository):\n";
    for (const std::string& p : paths) std::cerr << "  " << p << "\n";
  }
  if (!r.bad_chunk_files.empty()) {
    std::cerr << r.bad_chunk_files.size()
              << " chunk file(s) moved aside after failing verification, kept for inspection "
                 "(gc leaves them; delete them when done):\n";
    for (const std::string& p : r.bad_chunk_files) std::cerr << "  " << p << "\n";
  }
  if (r.exit_code == ExitCode::kSuccess) {
    std::cerr << "verified " << r.snapshots << " snapshot(s): " << r.chunks << " chunks, "
              << HumanBytes(r.bytes) << ", " << r.entries << " entries: no problems\n";
  } else if (r.problems.empty()) {
    return Report(r.status, r.exit_code);
  } else {
    std::cerr << "verification FAILED: " << r.problems.size() << " problem(s) (exit 8)\n";
  }
  return Exit(r.exit_code);
}

// --stale-lock-minutes and --clock-slack-seconds (gc, forget --prune) into
// `options`; a usage error's exit code, else 0.
int GcOptionsFromFlags(const ParsedArgs& args, GcOptions* options) {
  absl::StatusOr<int> stale_minutes =
      IntFlag(args, "stale-lock-minutes", static_cast<int>(kWriterLockStaleSeconds / 60));
  if (!stale_minutes.ok()) return UsageError(std::string(stale_minutes.status().message()));
  if (*stale_minutes < 2) {
    // Below two heartbeats a live writer could be declared stale.
    return UsageError(absl::StrCat("invalid --stale-lock-minutes ", *stale_minutes,
                                   ": use at least 2 (writers heartbeat every ",
                                   kWriterLockHeartbeatSeconds, " s)"));
  }
  absl::StatusOr<int> slack = IntFlag(args, "clock-slack-seconds", 300);
  if (!slack.ok()) return UsageError(std::string(slack.status().message()));
  if (*slack < 1) {
    // File times come from the kernel's coarse clock, a tick behind the
    // writers' start times: no slack at all is never safe.
    return UsageError("invalid --clock-slack-seconds: use 1 or more");
  }
  options->clock_slack_ns = int64_t{*slack} * 1000000000;
  options->stale_lock_ns = int64_t{*stale_minutes} * 60 * 1000000000;
  return 0;
}

// The gc summary as one JSON object (arca gc --json; "gc" of forget --prune).
std::string GcJson(const GcStats& s, const GcOptions& options) {
  return absl::StrFormat(
      "{\"dry_run\":%s,\"snapshots\":%d,\"chunks_marked\":%d,\"chunks_kept\":%d,"
      "\"bytes_kept\":%d,\"chunks_kept_recent\":%d,\"chunks_removed\":%d,"
      "\"bytes_removed\":%d,\"chunks_missing\":%d,\"temp_files_removed\":%d,"
      "\"temp_bytes_removed\":%d,\"live_locks\":%d,\"stale_locks_removed\":%s,"
      "\"orphans_removed\":%s,\"cutoff_unix_ns\":%d,\"seconds\":%.3f,"
      "\"mark_seconds\":%.3f,\"sweep_seconds\":%.3f}",
      options.dry_run ? "true" : "false", s.snapshots, s.chunks_marked, s.chunks_kept, s.bytes_kept,
      s.chunks_kept_recent, s.chunks_removed, s.bytes_removed, s.chunks_missing,
      s.temp_files_removed, s.temp_bytes_removed, s.live_locks, JsonStrings(s.stale_locks_removed),
      JsonStrings(s.orphans_removed), s.cutoff_unix_ns, s.seconds, s.mark_seconds, s.sweep_seconds);
}

// The gc summary for people, on stdout.
void PrintGcText(const GcStats& s, const GcOptions& options) {
  const char* verb = options.dry_run ? "would remove" : "removed";
  for (const std::string& l : s.stale_locks_removed) {
    std::cout << verb << " stale lock " << l << "\n";
  }
  for (const std::string& o : s.orphans_removed) {
    std::cout << verb << " orphan snapshot directory " << o << "\n";
  }
  std::cout << absl::StrFormat(
      "%s%d snapshots reference %d chunks; kept %d chunks (%s, %d of them unreferenced but "
      "newer than %s), %s %d chunks (%s), %d temp files (%s), %d stale locks, %d orphan "
      "directories; %d live writers; %.1f s\n",
      options.dry_run ? "dry run: " : "", s.snapshots, s.chunks_marked, s.chunks_kept,
      HumanBytes(s.bytes_kept), s.chunks_kept_recent, TimeString(s.cutoff_unix_ns), verb,
      s.chunks_removed, HumanBytes(s.bytes_removed), s.temp_files_removed,
      HumanBytes(s.temp_bytes_removed), s.stale_locks_removed.size(), s.orphans_removed.size(),
      s.live_locks, s.seconds);
}

void WarnMissingChunks(const GcStats& s) {
  if (s.chunks_missing > 0) {
    std::cerr << "arca: " << s.chunks_missing
              << " referenced chunk(s) have no chunk file: run `arca verify`\n";
  }
}

// --keep-last etc.: a count >= 0, or "unlimited" / -1.
absl::StatusOr<int> KeepCountFlag(const ParsedArgs& args, const std::string& name) {
  auto v = args.Last(name);
  if (!v) return 0;
  if (*v == "unlimited") return kRetentionUnlimited;
  int out;
  if (!absl::SimpleAtoi(*v, &out) || out < kRetentionUnlimited) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --", name, " '", *v, "': use a count >= 0, or unlimited (also -1)"));
  }
  return out;
}

int CmdForget(const std::vector<std::string>& argv) {
  auto args = ParseRepoArgs(argv, {{"repo", "group", "label", "keep-last", "keep-hourly",
                                    "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly",
                                    "keep-within", "stale-lock-minutes", "clock-slack-seconds"},
                                   {"dry-run", "json", "prune"}});
  if (!args.ok()) return UsageError(std::string(args.status().message()));
  if (!args->positional.empty()) {
    return UsageError("forget takes no arguments: it chooses snapshots by --keep-* rules");
  }
  RetentionPolicy policy;
  for (auto [flag, field] :
       {std::pair{"keep-last", &policy.keep_last}, std::pair{"keep-hourly", &policy.keep_hourly},
        std::pair{"keep-daily", &policy.keep_daily}, std::pair{"keep-weekly", &policy.keep_weekly},
        std::pair{"keep-monthly", &policy.keep_monthly},
        std::pair{"keep-yearly", &policy.keep_yearly}}) {
    absl::StatusOr<int> n = KeepCountFlag(*args, flag);
    if (!n.ok()) return UsageError(std::string(n.status().message()));
    *field = *n;
  }
  if (auto within = args->Last("keep-within")) {
    absl::StatusOr<RetentionDuration> d = ParseRetentionDuration(*within);
    if (!d.ok()) {
      return UsageError(absl::StrCat("invalid --keep-within: ", d.status().message()));
    }
    policy.keep_within = *d;
  }
  if (!ValidateRetentionPolicy(policy).ok()) {
    return UsageError(
        "forget needs at least one rule: --keep-last, --keep-hourly, --keep-daily, "
        "--keep-weekly, --keep-monthly, --keep-yearly (a count other than 0) or --keep-within "
        "(a duration other than 0); arca refuses to remove every snapshot");
  }
  absl::StatusOr<std::map<std::string, std::string>> selector =
      ParseLabelFlags(args->All("label"), "--label");
  if (!selector.ok()) return UsageError(std::string(selector.status().message()));
  const bool dry_run = args->Has("dry-run");
  const bool json = args->Has("json");
  const bool prune = args->Has("prune");
  GcOptions gc_options;
  if (int code = GcOptionsFromFlags(*args, &gc_options); code != 0) return code;
  if (!prune && (args->Last("stale-lock-minutes") || args->Last("clock-slack-seconds"))) {
    return UsageError("--stale-lock-minutes and --clock-slack-seconds need --prune");
  }
  int code = 0;
  auto repo = OpenRepo(*args, &code);
  if (!repo) return code;
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  absl::StatusOr<ForgetOutcome> outcome =
      ForgetByPolicy(*repo, args->Last("group").value_or(""), policy, dry_run, now, *selector);
  if (!outcome.ok()) {
    return Report(outcome.status(), outcome.status().code() == absl::StatusCode::kInvalidArgument
                                        ? ExitCode::kUsage
                                        : ExitCode::kVerification);
  }
  // The removals ran first; what happened is printed now (a failure stopped
  // the removals: the rest stay, and the output says which were removed).
  const std::vector<RetentionGroup>* groups = &outcome->groups;
  const std::set<std::string>& gone = outcome->removed;
  const size_t total = outcome->total, to_remove = outcome->to_remove, removed = gone.size();
  const absl::Status& failure = outcome->failure;
  // --prune: the gc after a successful forget (not in a dry run: it could
  // not count what the forgotten snapshots alone hold).
  std::optional<GcStats> gc;
  absl::Status gc_failure;
  if (prune && !dry_run && failure.ok()) {
    absl::StatusOr<GcStats> st = RunGc(*repo, gc_options);
    if (st.ok()) {
      gc = *st;
    } else {
      gc_failure = st.status();
    }
  }
  const std::string describe = DescribeRetentionPolicy(policy) + DescribeLabelSelector(*selector);
  if (json) {
    std::string items;
    for (const RetentionGroup& g : *groups) {
      for (const RetentionDecision& d : g.decisions) {
        std::string reasons;
        for (const KeepReason& r : d.reasons) {
          absl::StrAppend(&reasons, reasons.empty() ? "" : ",",
                          JsonString(KeepReasonText(r, policy)));
        }
        absl::StrAppend(&items, items.empty() ? "\n" : ",\n", "{\"id\":", JsonString(d.snapshot.id),
                        ",\"group\":", JsonString(g.group),
                        ",\"time_unix_ns\":", d.snapshot.time_unix_ns,
                        ",\"time\":", JsonString(TimeString(d.snapshot.time_unix_ns)),
                        ",\"kept\":", d.keep ? "true" : "false",
                        ",\"removed\":", gone.count(d.snapshot.id) ? "true" : "false",
                        ",\"reasons\":[", reasons, "]}");
      }
    }
    std::cout << "{\"dry_run\":" << (dry_run ? "true" : "false")
              << ",\"policy\":" << JsonString(describe) << ",\"snapshots\":[" << items
              << "\n],\"kept\":" << (total - to_remove) << ",\"to_remove\":" << to_remove
              << ",\"removed\":" << removed << ",\"error\":"
              << (failure.ok() ? "null" : JsonString(std::string(failure.message())));
    if (prune) {
      std::cout << ",\"gc\":" << (gc ? GcJson(*gc, gc_options) : "null") << ",\"gc_error\":"
                << (gc_failure.ok() ? "null" : JsonString(std::string(gc_failure.message())));
    }
    std::cout << "}\n";
  } else {
    std::cout << "policy: " << describe << "\n";
    for (const RetentionGroup& g : *groups) {
      size_t kept = 0;
      for (const RetentionDecision& d : g.decisions) kept += d.keep;
      std::cout << "\ngroup " << g.group << ": keep " << kept << " of " << g.decisions.size()
                << " snapshot(s)\n";
      std::cout << absl::StrFormat("%-60s %-29s %-8s %s\n", "ID", "TIME (UTC)", "ACTION",
                                   "REASONS");
      for (const RetentionDecision& d : g.decisions) {
        std::vector<std::string> reasons;
        for (const KeepReason& r : d.reasons) reasons.push_back(KeepReasonText(r, policy));
        const char* action = d.keep                      ? "keep"
                             : gone.count(d.snapshot.id) ? "removed"
                             : dry_run                   ? "remove"
                                                         : "not removed";
        std::cout << absl::StrFormat("%-60s %-29s %-8s %s\n", d.snapshot.id,
                                     TimeString(d.snapshot.time_unix_ns), action,
                                     absl::StrJoin(reasons, ", "));
      }
    }
    if (dry_run) {
      std::cerr << "dry run: would remove " << to_remove << " of " << total
                << " snapshot(s); nothing was changed\n";
      if (prune) std::cerr << "dry run: --prune did not run the gc\n";
    } else if (failure.ok()) {
      std::cerr << "removed " << removed << " of " << total << " snapshot(s)"
                << (removed > 0 && !prune
                        ? "; run `arca gc` to free the chunks no snapshot references"
                        : "")
                << "\n";
      if (gc) {
        std::cout << "\ngc: ";
        PrintGcText(*gc, gc_options);
      }
    }
  }
  if (gc) WarnMissingChunks(*gc);
  if (!failure.ok()) {
    if (!json) {
      std::cerr << "removed " << removed << " of " << to_remove << " snapshot(s) before an error\n";
    }
    return Report(failure, ExitCode::kRepository);
  }
  if (!gc_failure.ok()) {
    if (!json) std::cerr << "the snapshots were forgotten, but the gc failed\n";
    return Report(gc_failure, ExitCode::kRepository);
  }
  return 0;
}

int CmdGc(const std::vector<std::string>& argv) {
  auto args = ParseRepoArgs(
      argv, {{"repo", "stale-lock-minutes", "clock-slack-seconds"}, {"json", "dry-run"}});
  if (!args.ok()) return UsageError(std::string(args.status().message()));
  if (!args->positional.empty()) return UsageError("gc takes no arguments");
  GcOptions options;
  if (int code = GcOptionsFromFlags(*args, &options); code != 0) return code;
  options.dry_run = args->Has("dry-run");
  int code = 0;
  auto repo = OpenRepo(*args, &code);
  if (!repo) return code;
  absl::StatusOr<GcStats> st = RunGc(*repo, options);
  if (!st.ok()) return Report(st.status(), ExitCode::kRepository);
  if (args->Has("json")) {
    std::cout << GcJson(*st, options) << "\n";
  } else {
    PrintGcText(*st, options);
  }
  WarnMissingChunks(*st);
  return 0;
}

}  // namespace

int Main(int argc, char** argv) {
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  if (argc < 2) {
    std::cerr << kUsage;
    return Exit(ExitCode::kUsage);
  }
  std::string cmd = argv[1];
  if (cmd.rfind("--", 0) == 0 && cmd != "--help") {
    // Global flags before the command: remote mode (--orchestrator).
    return RunRemote(std::vector<std::string>(argv + 1, argv + argc));
  }
  std::vector<std::string> rest(argv + 2, argv + argc);
  if (cmd == "help" || cmd == "--help" || cmd == "-h") {
    std::cout << kUsage;
    return 0;
  }
  int code;
  if (cmd == "init")
    code = CmdInit(rest);
  else if (cmd == "backup")
    code = CmdBackup(rest);
  else if (cmd == "snapshots")
    code = CmdSnapshots(rest);
  else if (cmd == "ls")
    code = CmdLs(rest);
  else if (cmd == "cat")
    code = CmdCat(rest);
  else if (cmd == "diff")
    code = CmdDiff(rest);
  else if (cmd == "find")
    code = CmdFind(rest);
  else if (cmd == "restore")
    code = CmdRestore(rest);
  else if (cmd == "export")
    code = CmdExport(rest);
  else if (cmd == "mount")
    code = RunMount(rest);
  else if (cmd == "verify")
    code = CmdVerify(rest);
  else if (cmd == "forget")
    code = CmdForget(rest);
  else if (cmd == "gc")
    code = CmdGc(rest);
  else if (cmd == "key")
    code = CmdKey(rest);
  else
    return UsageError(absl::StrCat("unknown command '", cmd, "'\n", kUsage));
  if (g_cancel.cancelled() && code != 0) return Exit(ExitCode::kCancelled);
  return code;
}

}  // namespace arca::cli

int main(int argc, char** argv) { return arca::cli::Main(argc, argv); }
