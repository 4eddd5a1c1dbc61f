#include "tools/arca/remote.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "arca/v1/orchestrator.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "libs/base/cli_flags.h"
#include "libs/base/exit_codes.h"
#include "libs/base/labels.h"
#include "libs/base/random_bytes.h"
#include "libs/codec/codec.h"
#include "libs/fs/exclude.h"
#include "libs/pipeline/commands.h"
#include "libs/restore/tree_writer.h"
#include "libs/store/repository.h"
#include "services/common/client_channel.h"
#include "tools/arca/job_textfile.h"
#include "tools/arca/output.h"
#include "tools/arca/progress_display.h"

namespace arca::cli {
namespace {

std::atomic<bool> g_interrupted{false};

void OnInterrupt(int) { g_interrupted.store(true); }

// A random UUID (version 4) for a Start request's request_id.
std::string NewRequestId() {
  uint8_t b[16];
  FillRandom(b, sizeof(b));
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);
  std::string hex =
      absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(b), sizeof(b)));
  return absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4), "-",
                      hex.substr(16, 4), "-", hex.substr(20));
}

int UsageError(const std::string& message) {
  std::cerr << "arca: " << message << " (exit 2)\n";
  return 2;
}

// Exit code for an RPC the orchestrator refused or could not answer.
int RpcError(const std::string& what, const grpc::Status& s, const std::string& address) {
  int code = 1;
  switch (s.error_code()) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::OUT_OF_RANGE:
      code = 2;
      break;
    default:
      code = 1;
  }
  std::cerr << "arca: " << what << ": " << s.error_message();
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    std::cerr << " (is the orchestrator running at " << address << "?)";
  }
  std::cerr << " (exit " << code << ")\n";
  return code;
}

// "backup", "restore", ... from the enum's own name (JOB_TYPE_BACKUP), so a
// new job type needs no new line here; "job" for an unknown number.
std::string JobTypeName(v1::JobType t) {
  const std::string full = v1::JobType_Name(t);
  absl::string_view name = full;
  if (t == v1::JOB_TYPE_UNSPECIFIED || !absl::ConsumePrefix(&name, "JOB_TYPE_")) return "job";
  return absl::AsciiStrToLower(name);
}

std::string StateName(v1::JobState s) {
  const std::string full = v1::JobState_Name(s);
  absl::string_view name = full;
  absl::ConsumePrefix(&name, "JOB_STATE_");
  return absl::AsciiStrToLower(name);
}

class Remote {
 public:
  Remote(std::string address, std::shared_ptr<grpc::Channel> channel, std::string token)
      : address_(std::move(address)),
        stub_(v1::Orchestrator::NewStub(std::move(channel))),
        token_(std::move(token)) {}

  std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout) const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (timeout != absl::InfiniteDuration()) {
      ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    }
    if (!token_.empty()) ctx->AddMetadata("authorization", "Bearer " + token_);
    return ctx;
  }

  // Follows a job to its end and returns its exit code. The job's progress
  // events drive a ProgressDisplay (progress_display.h) named `command`.
  // *final_out (if given): the job as it ended, when it could be learnt.
  int Follow(const std::string& id, bool json, const std::string& command, const ParsedArgs& flags,
             std::optional<v1::Job>* final_out = nullptr) {
    Progress progress;
    ProgressDisplay display(&progress, StderrDisplayOptions(command, flags.Has("progress"),
                                                            flags.Has("no-progress"), json));
    display.Start();
    // Ctrl-C: ask the orchestrator to cancel the job, keep following it.
    std::atomic<bool> stop{false};
    std::thread canceller([&] {
      bool sent = false;
      while (!stop.load()) {
        if (g_interrupted.load() && !sent) {
          sent = true;
          display.PrintLine("arca: interrupted: cancelling job " + id);
          v1::CancelJobRequest req;
          req.set_id(id);
          v1::Job job;
          auto ctx = Context(absl::Seconds(10));
          stub_->CancelJob(ctx.get(), req, &job);
        }
        absl::SleepFor(absl::Milliseconds(100));
      }
    });
    std::optional<v1::Job> final_job;
    int code = FollowStream(id, json, &progress, &display, &final_job);
    stop.store(true);
    canceller.join();
    if (final_job) SetFinalCounts(*final_job, &progress);
    // A verification that found problems still ran to its end.
    display.Finish(final_job && (final_job->state() == v1::JOB_STATE_SUCCEEDED ||
                                 final_job->state() == v1::JOB_STATE_SUCCEEDED_WITH_WARNINGS ||
                                 final_job->status().failed_phase() == v1::PHASE_VERIFICATION));
    if (final_out) *final_out = final_job;
    return final_job ? PrintFinal(*final_job, json) : code;
  }

  // The last progress event may lag the job's result: take the final
  // counters from the result.
  static void SetFinalCounts(const v1::Job& job, Progress* progress) {
    if (job.has_progress()) UpdateProgress(job.progress(), progress);
    const bool ok = job.state() == v1::JOB_STATE_SUCCEEDED ||
                    job.state() == v1::JOB_STATE_SUCCEEDED_WITH_WARNINGS;
    if (!ok) return;
    switch (job.type()) {
      case v1::JOB_TYPE_BACKUP:
        progress->SetFiles(job.stats().files());
        progress->SetBytes(job.stats().bytes_collected());
        progress->SetEntries(job.stats().files() + job.stats().directories() +
                             job.stats().other_entries());
        break;
      case v1::JOB_TYPE_RESTORE:
        progress->SetBytes(job.result().bytes());
        progress->SetEntries(job.result().entries());
        break;
      case v1::JOB_TYPE_VERIFY:
        progress->SetChunks(job.verify().chunks());
        progress->SetBytes(job.verify().bytes());
        progress->SetEntries(job.verify().entries());
        break;
      default:
        break;
    }
  }

  static void UpdateProgress(const v1::Progress& p, Progress* progress) {
    progress->SetPhase(p.phase());
    progress->SetFiles(p.files_done());
    progress->SetBytes(p.bytes_done());
    progress->SetBytesTotal(p.bytes_total());
  }

  // Reads the job's events until its end. *final_job: the job as it ended
  // (unset when it could not be learnt; the return value is then the exit
  // code of that error).
  int FollowStream(const std::string& id, bool json, Progress* progress, ProgressDisplay* display,
                   std::optional<v1::Job>* final_out) {
    v1::WatchJobRequest req;
    req.set_id(id);
    std::optional<v1::Job>& final_job = *final_out;
    int warnings_shown = 0;
    grpc::Status s;
    // A stream that breaks (an orchestrator restart, a network blip) is
    // resumed after the last event seen, a few times.
    for (int attempt = 0; attempt < 6 && !final_job; ++attempt) {
      if (attempt > 0) absl::SleepFor(absl::Seconds(attempt));
      auto ctx = Context(absl::InfiniteDuration());
      std::unique_ptr<grpc::ClientReader<v1::JobEvent>> reader = stub_->WatchJob(ctx.get(), req);
      v1::JobEvent e;
      while (reader->Read(&e)) {
        if (e.sequence() > req.after_sequence()) req.set_after_sequence(e.sequence());
        if (e.has_final()) {
          final_job = e.final();
        } else if (e.has_warning()) {
          progress->AddWarnings();
          display->PrintLine(WarningLine(e.warning(), json));
          ++warnings_shown;
        } else if (e.has_progress()) {
          UpdateProgress(e.progress(), progress);
        }
      }
      s = reader->Finish();
      if (s.error_code() != grpc::StatusCode::UNAVAILABLE) break;
    }
    if (!final_job) {
      // The stream broke: ask once more.
      v1::GetJobRequest get;
      get.set_id(id);
      v1::Job job;
      auto ctx2 = Context(absl::Seconds(10));
      grpc::Status gs = stub_->GetJob(ctx2.get(), get, &job);
      const bool ended = gs.ok() && (job.state() == v1::JOB_STATE_SUCCEEDED ||
                                     job.state() == v1::JOB_STATE_SUCCEEDED_WITH_WARNINGS ||
                                     job.state() == v1::JOB_STATE_FAILED ||
                                     job.state() == v1::JOB_STATE_CANCELLED);
      if (!ended) display->Finish(false);  // the error below goes on a line of its own
      if (!s.ok() && !gs.ok()) return RpcError("watching job " + id, s, address_);
      if (!gs.ok()) return RpcError("job " + id, gs, address_);
      if (job.state() != v1::JOB_STATE_SUCCEEDED &&
          job.state() != v1::JOB_STATE_SUCCEEDED_WITH_WARNINGS &&
          job.state() != v1::JOB_STATE_FAILED && job.state() != v1::JOB_STATE_CANCELLED) {
        std::cerr << "arca: lost the watch of job " << id << " while it is "
                  << StateName(job.state()) << ": " << s.error_message() << " (exit 1)\n";
        return 1;
      }
      final_job = job;
    }
    // A job that ended before the watch began is sent as its final Job only:
    // its warnings (the same list, in order) have not been shown yet.
    for (int i = warnings_shown; i < final_job->warnings_size(); ++i) {
      progress->AddWarnings();
      display->PrintLine(WarningLine(final_job->warnings(i), json));
    }
    return 0;
  }

  // A warning event as one line (no newline).
  static std::string WarningLine(const v1::Warning& w, bool json) {
    if (json) return absl::StrCat("{\"warning\":", WarningJson(w), "}");
    if (w.phase() == v1::PHASE_VERIFICATION) return absl::StrCat("corrupt: ", w.message());
    return absl::StrCat("warning: ", w.path(), ": ", w.message());
  }

  int PrintFinal(const v1::Job& job, bool json) const {
    const int code = static_cast<int>(job.status().exit_code());
    if (json) {
      v1::Job copy = job;
      copy.clear_warnings();  // raw path bytes: printed as JSON lines above
      std::cout << ProtoJson(copy) << "\n";
      return code;
    }
    const bool ok = job.state() == v1::JOB_STATE_SUCCEEDED ||
                    job.state() == v1::JOB_STATE_SUCCEEDED_WITH_WARNINGS;
    if (ok) {
      switch (job.type()) {
        case v1::JOB_TYPE_BACKUP: {
          std::cout << job.snapshot() << "\n";
          const v1::BackupStats& s = job.stats();
          std::cerr << "files " << s.files() << ", directories " << s.directories() << ", other "
                    << s.other_entries() << "; read " << HumanBytes(s.bytes_collected())
                    << "; new chunks " << s.chunks_new() << " of " << s.chunks_total() << ": "
                    << HumanBytes(s.bytes_new_raw()) << " -> " << HumanBytes(s.bytes_new_stored())
                    << " stored\n";
          break;
        }
        case v1::JOB_TYPE_RESTORE: {
          const v1::StageResult& rr = job.result();
          PrintRestoreChanges(
              rr.entries_skipped(), rr.entries_deleted(),
              std::vector<std::string>(rr.deleted_paths().begin(), rr.deleted_paths().end()));
          std::cerr << "restored " << job.result().entries() << " entries, "
                    << HumanBytes(job.result().bytes()) << " from " << job.snapshot() << "\n";
          break;
        }
        case v1::JOB_TYPE_FORGET:
        case v1::JOB_TYPE_GC:
          if (job.has_forget()) {
            const v1::ForgetResponse& f = job.forget();
            for (const v1::ForgetDecision& d : f.snapshots()) {
              std::cout << absl::StrFormat(
                  "%-60s %-8s %s\n", d.id(),
                  d.kept() ? "keep" : (d.removed() ? "removed" : (f.dry_run() ? "remove" : "kept")),
                  absl::StrJoin(d.reasons(), ", "));
            }
            std::cerr << (f.dry_run() ? "dry run: would remove " : "removed ")
                      << (f.dry_run() ? f.to_remove() : f.removed()) << " of " << f.snapshots_size()
                      << " snapshot(s) (" << f.policy() << ")\n";
          }
          if (job.has_gc()) {
            const v1::GcResponse& g = job.gc();
            std::cerr << (g.dry_run() ? "gc dry run: would remove " : "gc removed ")
                      << g.chunks_removed() << " chunk(s), " << HumanBytes(g.bytes_removed())
                      << "; kept " << g.chunks_kept() << " (" << HumanBytes(g.bytes_kept()) << "), "
                      << g.temp_files_removed() << " temp file(s), " << g.orphans_removed_size()
                      << " orphan(s), " << g.stale_locks_removed_size() << " stale lock(s)\n";
          }
          break;
        case v1::JOB_TYPE_VERIFY:
          std::cerr << "verified " << job.verify().snapshots()
                    << " snapshot(s): " << job.verify().chunks() << " chunks, "
                    << HumanBytes(job.verify().bytes()) << ", " << job.verify().entries()
                    << " entries: no problems\n";
          break;
        default:
          break;
      }
      if (code != 0) std::cerr << "arca: " << job.status().message() << " (exit " << code << ")\n";
      return code;
    }
    std::cerr << "arca: " << JobTypeName(job.type()) << " job " << job.id() << " "
              << StateName(job.state());
    if (job.state() == v1::JOB_STATE_FAILED &&
        job.status().failed_phase() != v1::PHASE_UNSPECIFIED) {
      std::cerr << " in phase " << PhaseName(job.status().failed_phase());
    }
    std::cerr << ": " << job.status().message() << " (exit " << code << ")\n";
    return code;
  }

  // Starts a job with `start` and follows it (or prints its id: --detach).
  // `group_hint`: the backup's group when the CLI knows it before the job
  // ends (--host given), for --metrics-textfile.
  template <typename Req, typename Method>
  int StartAndFollow(const std::string& what, const Req& request, Method method,
                     const ParsedArgs& flags, const std::string& group_hint = "") {
    const bool json = flags.Has("json");
    const bool detach = flags.Has("detach");
    const std::optional<std::string> textfile = flags.Last(kMetricsTextfileFlag);
    if (textfile && detach) {
      return UsageError("--metrics-textfile needs the job's end: drop --detach");
    }
    if (absl::Status st = CheckTextfileFlag(textfile); !st.ok()) {
      return UsageError(std::string(st.message()));
    }
    // Retried when the call's fate is unknown (UNAVAILABLE, DEADLINE_EXCEEDED):
    // the request_id makes the orchestrator answer a retry with the job the
    // first attempt created, never a second job.
    Req req = request;
    if (req.request_id().empty()) req.set_request_id(NewRequestId());
    v1::Job job;
    grpc::Status s;
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (attempt > 0) absl::SleepFor(absl::Seconds(attempt));
      auto ctx = Context(absl::Seconds(30));
      s = ((*stub_).*method)(ctx.get(), req, &job);
      if (s.error_code() != grpc::StatusCode::UNAVAILABLE &&
          s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
        break;
      }
    }
    if (!s.ok()) return RpcError("cannot start the " + what, s, address_);
    if (detach) {
      std::cout << job.id() << "\n";
      return 0;
    }
    if (!json) std::cerr << what << " job " << job.id() << " started\n";
    std::optional<v1::Job> final_job;
    const int code = Follow(job.id(), json, what, flags, &final_job);
    if (textfile) WriteTextfile(*textfile, what, final_job, group_hint);
    return code;
  }

  // --metrics-textfile after a followed job: its final state has the type,
  // exit code, failed phase, times and statistics. The group is the written
  // snapshot's, else Job.group, else `group_hint`; the group's newest snapshot (ListSnapshots)
  // seeds arca_last_success_timestamp_seconds.
  void WriteTextfile(const std::string& path, const std::string& what,
                     const std::optional<v1::Job>& job, const std::string& group_hint) {
    if (!job) {
      std::cerr << "arca: warning: metrics textfile " << path
                << " not updated: the job's outcome is unknown\n";
      return;
    }
    metrics::JobOutcome outcome;
    outcome.type = what;
    outcome.exit_code = static_cast<int>(job->status().exit_code());
    outcome.failed_phase = job->status().failed_phase();
    outcome.start = FromUnixNs(job->start_unix_ns());
    outcome.end =
        job->end_unix_ns() != 0 ? FromUnixNs(job->end_unix_ns()) : std::chrono::system_clock::now();
    std::optional<std::chrono::system_clock::time_point> last_success;
    if (job->type() == v1::JOB_TYPE_BACKUP) {
      // The written snapshot's group, else the job's (orchestrators since
      // Job.group), else what the CLI could work out itself.
      const size_t slash = job->snapshot().rfind('/');
      outcome.group = slash != std::string::npos ? job->snapshot().substr(0, slash)
                      : !job->group().empty()    ? job->group()
                                                 : group_hint;
      if (job->has_stats()) outcome.backup_stats = job->stats();
      if (!outcome.group.empty()) last_success = NewestSnapshot(outcome.group);
    }
    WriteTextfileFlag(path, outcome, last_success);
  }

  static std::chrono::system_clock::time_point FromUnixNs(int64_t ns) {
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(ns)));
  }

  // Every snapshot of `group` ("" = all), page after page; the error is
  // the gRPC status of the page that failed.
  // Every snapshot of `group` ("" = all) that has every label of `labels`
  // (filtered by the uploader, ListSnapshotsRequest.labels).
  absl::StatusOr<std::vector<v1::SnapshotInfo>> AllSnapshots(
      const std::string& group, grpc::Status* failed = nullptr,
      const std::map<std::string, std::string>& labels = {}) {
    std::vector<v1::SnapshotInfo> out;
    v1::ListSnapshotsRequest req;
    req.set_group(group);
    req.set_page_size(1000);
    req.mutable_labels()->insert(labels.begin(), labels.end());
    do {
      v1::ListSnapshotsResponse resp;
      auto ctx = Context(absl::Seconds(60));
      grpc::Status s = stub_->ListSnapshots(ctx.get(), req, &resp);
      if (!s.ok()) {
        if (failed != nullptr) *failed = s;
        return absl::UnavailableError(s.error_message());
      }
      for (v1::SnapshotInfo& m : *resp.mutable_snapshots()) {
        // An uploader older than the labels filter ignores it: filter here too.
        if (HasLabels(m.labels(), labels)) out.push_back(std::move(m));
      }
      req.set_page_token(resp.next_page_token());
    } while (!req.page_token().empty());
    return out;
  }

  // Time of the newest snapshot of `group` known to the orchestrator.
  std::optional<std::chrono::system_clock::time_point> NewestSnapshot(const std::string& group) {
    absl::StatusOr<std::vector<v1::SnapshotInfo>> all = AllSnapshots(group);
    if (!all.ok()) return std::nullopt;
    int64_t newest = 0;
    for (const v1::SnapshotInfo& m : *all) {
      newest = std::max<int64_t>(newest, m.time_unix_ns());
    }
    if (newest <= 0) return std::nullopt;
    return FromUnixNs(newest);
  }

  v1::Orchestrator::Stub* stub() { return stub_.get(); }
  const std::string& address() const { return address_; }

 private:
  std::string address_;
  std::unique_ptr<v1::Orchestrator::Stub> stub_;
  std::string token_;
};

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

int CmdBackup(Remote& r, const std::vector<std::string>& argv) {
  auto args = ParseArgs(argv, {{"exclude", "exclude-file", "compression", "level", "command",
                                "critical-command", "space-safety-factor", "host", "parent",
                                "change-detection", "collector", "label", kMetricsTextfileFlag},
                               {"json", "one-file-system", "ignore-ctime", "detach", "progress",
                                "no-progress", "no-space-check"}});
  if (!args.ok()) return UsageError(std::string(args.status().message()));
  if (args->positional.size() != 1) {
    return UsageError("backup needs exactly one SOURCE (an absolute path on the collector's node)");
  }
  v1::StartBackupRequest req;
  req.set_source(args->positional[0]);
  req.set_collector(args->Last("collector").value_or(""));
  absl::StatusOr<std::map<std::string, std::string>> labels =
      ParseLabelFlags(args->All("label"), "--label");
  if (!labels.ok()) return UsageError(std::string(labels.status().message()));
  req.mutable_labels()->insert(labels->begin(), labels->end());
  for (const std::string& e : args->All("exclude")) req.add_excludes(e);
  for (const std::string& file : args->All("exclude-file")) {
    absl::StatusOr<std::vector<std::string>> pats = fs::PathMatcher::ReadPatternFile(file);
    if (!pats.ok()) return UsageError(std::string(pats.status().message()));
    for (const std::string& p : *pats) req.add_excludes(p);
  }
  if (auto c = args->Last("compression")) {
    absl::StatusOr<Codec> codec = ParseCodec(*c);
    if (!codec.ok()) return UsageError(std::string(codec.status().message()));
    req.set_codec(static_cast<v1::Codec>(*codec));
  }
  absl::StatusOr<int> level = IntFlag(*args, "level", 0);
  if (!level.ok()) return UsageError(std::string(level.status().message()));
  req.set_level(*level);
  req.set_one_file_system(args->Has("one-file-system"));
  for (const char* flag : {"command", "critical-command"}) {
    // Names only: the command lines live in the collector's --commands-file
    // (its node's admin decides what runs there as root).
    for (const std::string& c : args->All(flag)) {
      if (c.find('=') != std::string::npos) {
        return UsageError(absl::StrCat(
            "invalid --", flag, " '", c,
            "': in remote mode give only the command's NAME; its "
            "command line lives in the collector's --commands-file (NAME=COMMAND LINE per line)"));
      }
      if (absl::Status st = ValidateCommandName(c, absl::StrCat("--", flag)); !st.ok()) {
        return UsageError(std::string(st.message()));
      }
      v1::Command* cmd = req.add_commands();
      cmd->set_name(c);
      cmd->set_critical(std::string(flag) == "critical-command");
    }
  }
  if (auto f = args->Last("space-safety-factor")) {
    double factor;
    if (!absl::SimpleAtod(*f, &factor)) {
      return UsageError(absl::StrCat("invalid --space-safety-factor '", *f, "': not a number"));
    }
    req.set_space_safety_factor(factor);
  }
  req.set_skip_space_check(args->Has("no-space-check"));
  req.set_host(args->Last("host").value_or(""));
  req.set_parent(args->Last("parent").value_or(""));
  req.set_ignore_ctime(args->Has("ignore-ctime"));
  if (auto mode = args->Last("change-detection")) {
    if (*mode == "data") {
      req.set_change_detection_data(true);
    } else if (*mode != "metadata") {
      return UsageError(
          absl::StrCat("invalid --change-detection '", *mode, "': use metadata or data"));
    }
  }
  // The CLI knows the group itself only with --host (the orchestrator picks
  // the default host); otherwise it comes from Job.group.
  const std::string group_hint =
      req.host().empty() ? "" : Repository::GroupName(req.host(), req.source());
  return r.StartAndFollow("backup", req, &v1::Orchestrator::Stub::StartBackup, *args, group_hint);
}

int CmdRestore(Remote& r, const std::vector<std::string>& argv) {
  auto args = ParseArgs(argv, {{"include", "collector", "overwrite", kMetricsTextfileFlag},
                               {"json", "detach", "progress", "no-progress", "delete"}});
  if (!args.ok()) return UsageError(std::string(args.status().message()));
  if (args->positional.size() != 2) return UsageError("restore needs SNAPSHOT and TARGET");
  absl::StatusOr<OverwritePolicy> overwrite =
      ParseOverwritePolicy(args->Last("overwrite").value_or("always"));
  if (!overwrite.ok()) return UsageError(std::string(overwrite.status().message()));
  v1::StartRestoreRequest req;
  req.set_snapshot(args->positional[0]);
  req.set_target(args->positional[1]);
  req.set_collector(args->Last("collector").value_or(""));
  for (const std::string& i : args->All("include")) req.add_includes(i);
  req.set_overwrite(OverwritePolicyToProto(*overwrite));
  req.set_delete_extraneous(args->Has("delete"));
  return r.StartAndFollow("restore", req, &v1::Orchestrator::Stub::StartRestore, *args);
}

int CmdVerify(Remote& r, const std::vector<std::string>& argv) {
  auto args = ParseArgs(
      argv, {{"workers", kMetricsTextfileFlag}, {"json", "detach", "progress", "no-progress"}});
  if (!args.ok()) return UsageError(std::string(args.status().message()));
  if (args->positional.size() > 1) return UsageError("verify takes at most one SNAPSHOT");
  absl::StatusOr<int> workers = IntFlag(*args, "workers", 0);
  if (!workers.ok()) return UsageError(std::string(workers.status().message()));
  v1::StartVerifyRequest req;
  if (!args->positional.empty()) req.set_snapshot(args->positional[0]);
  req.set_workers(*workers);
  return r.StartAndFollow("verify", req, &v1::Orchestrator::Stub::StartVerify, *args);
}

// A count flag of forget: N >= 0, or "unlimited" (-1).
absl::StatusOr<int> KeepCount(const ParsedArgs& args, const std::string& name) {
  auto v = args.Last(name);
  if (!v) return 0;
  if (*v == "unlimited") return -1;
  int out;
  if (!absl::SimpleAtoi(*v, &out) || out < -1) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --", name, " '", *v, "': use a count >= 0, or unlimited (also -1)"));
  }
  return out;
}

int CmdForget(Remote& r, const std::vector<std::string>& argv) {
  auto args =
      ParseArgs(argv, {{"group", "label", "keep-last", "keep-hourly", "keep-daily", "keep-weekly",
                        "keep-monthly", "keep-yearly", "keep-within", "clock-slack-seconds"},
                       {"dry-run", "prune", "json", "detach", "progress", "no-progress"}});
  if (!args.ok()) return UsageError(std::string(args.status().message()));
  if (!args->positional.empty()) {
    return UsageError("forget takes no arguments: it chooses snapshots by --keep-* rules");
  }
  absl::StatusOr<std::map<std::string, std::string>> labels =
      ParseLabelFlags(args->All("label"), "--label");
  if (!labels.ok()) return UsageError(std::string(labels.status().message()));
  v1::StartForgetRequest req;
  req.set_group(args->Last("group").value_or(""));
  req.mutable_labels()->insert(labels->begin(), labels->end());
  v1::RetentionPolicy* p = req.mutable_policy();
  for (auto [flag, set] : {std::pair{"keep-last", &v1::RetentionPolicy::set_keep_last},
                           std::pair{"keep-hourly", &v1::RetentionPolicy::set_keep_hourly},
                           std::pair{"keep-daily", &v1::RetentionPolicy::set_keep_daily},
                           std::pair{"keep-weekly", &v1::RetentionPolicy::set_keep_weekly},
                           std::pair{"keep-monthly", &v1::RetentionPolicy::set_keep_monthly},
                           std::pair{"keep-yearly", &v1::RetentionPolicy::set_keep_yearly}}) {
    absl::StatusOr<int> n = KeepCount(*args, flag);
    if (!n.ok()) return UsageError(std::string(n.status().message()));
    (p->*set)(*n);
  }
  p->set_keep_within(args->Last("keep-within").value_or(""));
  req.set_dry_run(args->Has("dry-run"));
  req.set_prune(args->Has("prune"));
  absl::StatusOr<int> slack = IntFlag(*args, "clock-slack-seconds", 0);
  if (!slack.ok()) return UsageError(std::string(slack.status().message()));
  req.set_clock_slack_seconds(*slack);
  return r.StartAndFollow("forget", req, &v1::Orchestrator::Stub::StartForget, *args);
}

int CmdGc(Remote& r, const std::vector<std::string>& argv) {
  auto args = ParseArgs(argv, {{"stale-lock-minutes", "clock-slack-seconds"},
                               {"dry-run", "json", "detach", "progress", "no-progress"}});
  if (!args.ok()) return UsageError(std::string(args.status().message()));
  if (!args->positional.empty()) return UsageError("gc takes no arguments");
  absl::StatusOr<int> minutes = IntFlag(*args, "stale-lock-minutes", 0);
  if (!minutes.ok()) return UsageError(std::string(minutes.status().message()));
  v1::StartGcRequest req;
  req.set_dry_run(args->Has("dry-run"));
  req.set_stale_lock_minutes(*minutes);
  absl::StatusOr<int> slack = IntFlag(*args, "clock-slack-seconds", 0);
  if (!slack.ok()) return UsageError(std::string(slack.status().message()));
  req.set_clock_slack_seconds(*slack);
  return r.StartAndFollow("gc", req, &v1::Orchestrator::Stub::StartGc, *args);
}

int CmdSnapshots(Remote& r, const std::vector<std::string>& argv) {
  auto args = ParseArgs(argv, {{"group", "label"}, {"json"}});
  if (!args.ok()) return UsageError(std::string(args.status().message()));
  if (!args->positional.empty()) return UsageError("snapshots takes no arguments");
  absl::StatusOr<std::map<std::string, std::string>> labels =
      ParseLabelFlags(args->All("label"), "--label");
  if (!labels.ok()) return UsageError(std::string(labels.status().message()));
  grpc::Status failed;
  absl::StatusOr<std::vector<v1::SnapshotInfo>> all =
      r.AllSnapshots(args->Last("group").value_or(""), &failed, *labels);
  if (!all.ok()) return RpcError("ListSnapshots", failed, r.address());
  // Oldest first, as the embedded `arca snapshots` prints them.
  std::stable_sort(all->begin(), all->end(),
                   [](const v1::SnapshotInfo& a, const v1::SnapshotInfo& b) {
                     return a.time_unix_ns() < b.time_unix_ns();
                   });
  if (args->Has("json")) {
    std::cout << "[";
    for (size_t i = 0; i < all->size(); ++i) {
      std::cout << (i ? ",\n" : "\n") << ProtoJson((*all)[i]);
    }
    std::cout << "\n]\n";
    return 0;
  }
  std::cout << absl::StrFormat("%-60s %-29s %8s %10s %10s %s\n", "ID", "TIME (UTC)", "FILES",
                               "SIZE", "ADDED", "LABELS");
  for (const v1::SnapshotInfo& m : *all) {
    std::cout << absl::StrFormat("%-60s %-29s %8d %10s %10s %s\n", m.id(),
                                 TimeString(m.time_unix_ns()), m.stats().files(),
                                 HumanBytes(m.stats().bytes_collected()),
                                 HumanBytes(m.stats().bytes_new_stored()), LabelsText(m.labels()));
  }
  return 0;
}

int CmdJobs(Remote& r, const std::vector<std::string>& argv) {
  auto args = ParseArgs(argv, {{"filter", "limit"}, {"json", "newest-first"}});
  if (!args.ok()) return UsageError(std::string(args.status().message()));
  if (!args->positional.empty()) return UsageError("jobs takes no arguments");
  absl::StatusOr<int> limit = IntFlag(*args, "limit", 0);
  if (!limit.ok() || *limit < 0) return UsageError("--limit takes a number of jobs (0 = all)");
  v1::ListJobsRequest req;
  req.set_filter(args->Last("filter").value_or(""));
  if (args->Has("newest-first")) req.set_order_by("create_time desc");
  req.set_page_size(500);
  std::vector<v1::Job> jobs;
  do {
    v1::ListJobsResponse resp;
    auto ctx = r.Context(absl::Seconds(30));
    grpc::Status s = r.stub()->ListJobs(ctx.get(), req, &resp);
    if (!s.ok()) return RpcError("ListJobs", s, r.address());
    for (v1::Job& j : *resp.mutable_jobs()) {
      if (*limit > 0 && static_cast<int>(jobs.size()) == *limit) break;
      jobs.push_back(std::move(j));
    }
    req.set_page_token(resp.next_page_token());
  } while (!req.page_token().empty() && (*limit == 0 || static_cast<int>(jobs.size()) < *limit));
  if (args->Has("json")) {
    std::cout << "[";
    for (size_t i = 0; i < jobs.size(); ++i) std::cout << (i ? ",\n" : "\n") << ProtoJson(jobs[i]);
    std::cout << "\n]\n";
    return 0;
  }
  std::cout << absl::StrFormat("%-30s %-8s %-24s %5s %-13s %-29s %s\n", "ID", "TYPE", "STATE",
                               "EXIT", "PHASE", "CREATED (UTC)", "SNAPSHOT");
  for (const v1::Job& j : jobs) {
    const bool ended = j.end_unix_ns() != 0;
    std::cout << absl::StrFormat(
        "%-30s %-8s %-24s %5s %-13s %-29s %s\n", j.id(), JobTypeName(j.type()),
        StateName(j.state()), ended ? std::to_string(j.status().exit_code()) : "-",
        j.status().failed_phase() == v1::PHASE_UNSPECIFIED ? "-"
                                                           : PhaseName(j.status().failed_phase()),
        TimeString(j.start_unix_ns()), j.snapshot());
  }
  return 0;
}

int CmdWatch(Remote& r, const std::vector<std::string>& argv) {
  auto args = ParseArgs(argv, {{}, {"json", "progress", "no-progress"}});
  if (!args.ok()) return UsageError(std::string(args.status().message()));
  if (args->positional.size() != 1) return UsageError("watch needs one JOB id (see `arca jobs`)");
  return r.Follow(args->positional[0], args->Has("json"), "job", *args);
}

int CmdCancel(Remote& r, const std::vector<std::string>& argv) {
  auto args = ParseArgs(argv, {{}, {}});
  if (!args.ok()) return UsageError(std::string(args.status().message()));
  if (args->positional.size() != 1) return UsageError("cancel needs one JOB id (see `arca jobs`)");
  v1::CancelJobRequest req;
  req.set_id(args->positional[0]);
  v1::Job job;
  auto ctx = r.Context(absl::Seconds(30));
  grpc::Status s = r.stub()->CancelJob(ctx.get(), req, &job);
  if (!s.ok()) return RpcError("CancelJob", s, r.address());
  if (job.end_unix_ns() != 0) {
    std::cerr << JobTypeName(job.type()) << " job " << job.id() << " has already ended ("
              << StateName(job.state()) << ", exit " << static_cast<int>(job.status().exit_code())
              << "): nothing to cancel\n";
    return 0;
  }
  std::cerr << "cancel requested for " << JobTypeName(job.type()) << " job " << job.id()
            << " (follow it with `arca watch " << job.id() << "`)\n";
  return 0;
}

}  // namespace

int RunRemote(const std::vector<std::string>& all) {
  // Global flags up to the command.
  size_t i = 0;
  std::vector<std::string> globals;
  while (i < all.size() && all[i].rfind("--", 0) == 0) {
    globals.push_back(all[i]);
    const std::string& a = all[i];
    const bool takes_value = a.find('=') == std::string::npos && a != "--insecure";
    ++i;
    if (takes_value && i < all.size()) globals.push_back(all[i++]);
  }
  auto g = ParseArgs(globals, {{"orchestrator", "tls-ca", "tls-cert", "tls-key", "tls-server-name",
                                "token-file", "trust-domain"},
                               {"insecure"}});
  if (!g.ok()) return UsageError(std::string(g.status().message()));
  std::optional<std::string> address = g->Last("orchestrator");
  if (!address || address->empty()) {
    return UsageError("--orchestrator=HOST:PORT is required before the command in remote mode");
  }
  if (i >= all.size()) {
    return UsageError("no command: use backup, restore, verify, snapshots, jobs, watch or cancel");
  }
  services::ClientTlsFlags tls;
  tls.ca = g->Last("tls-ca").value_or("");
  tls.cert = g->Last("tls-cert").value_or("");
  tls.key = g->Last("tls-key").value_or("");
  tls.server_name = g->Last("tls-server-name").value_or("");
  tls.insecure = g->Has("insecure");
  tls.trust_domain = g->Last("trust-domain").value_or(services::kDefaultTrustDomain);
  if (absl::Status st = services::CheckTrustDomain(tls.trust_domain); !st.ok()) {
    return UsageError(absl::StrCat("--trust-domain: ", st.message()));
  }
  // With TLS the CLI also checks that it reached the orchestrator (its
  // SPIFFE ID), not another arca service (with --tls-ca; the system's roots
  // check the name only).
  if (!tls.insecure) tls.server_role = services::Role::kOrchestrator;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = services::MakeChannel(*address, tls);
  if (!channel.ok()) return UsageError(std::string(channel.status().message()));
  std::string token;
  if (std::optional<std::string> file = g->Last("token-file")) {
    std::ifstream in(*file);
    if (!in) return UsageError(absl::StrCat("cannot read --token-file '", *file, "'"));
    std::stringstream ss;
    ss << in.rdbuf();
    token = std::string(absl::StripAsciiWhitespace(ss.str()));
    if (token.empty()) return UsageError(absl::StrCat("--token-file '", *file, "' is empty"));
  }
  struct sigaction sa = {};
  sa.sa_handler = OnInterrupt;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  Remote remote(*address, *std::move(channel), token);
  const std::string cmd = all[i];
  std::vector<std::string> rest(all.begin() + i + 1, all.end());
  if (cmd == "backup") return CmdBackup(remote, rest);
  if (cmd == "restore") return CmdRestore(remote, rest);
  if (cmd == "verify") return CmdVerify(remote, rest);
  if (cmd == "forget") return CmdForget(remote, rest);
  if (cmd == "gc") return CmdGc(remote, rest);
  if (cmd == "snapshots") return CmdSnapshots(remote, rest);
  if (cmd == "jobs") return CmdJobs(remote, rest);
  if (cmd == "watch") return CmdWatch(remote, rest);
  if (cmd == "cancel") return CmdCancel(remote, rest);
  return UsageError(
      absl::StrCat("unknown remote command '", cmd,
                   "': use backup, restore, verify, forget, gc, snapshots, jobs, watch or "
                   "cancel"));
}

}  // namespace arca::cli
