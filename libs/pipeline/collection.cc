#include "libs/pipeline/collection.h"

#include <algorithm>
#include <span>

#include "absl/strings/str_cat.h"
#include "libs/base/phase_status.h"
#include "libs/base/status_macros.h"
#include "libs/fs/tree_walker.h"
#include "libs/pipeline/collector.h"

namespace arca {

absl::Status RunCollection(const CollectionPlan& plan, fs::FileSystem* fs, ArchiveSink* sink,
                           const std::function<absl::Status(const v1::CommandResult&)>& on_command,
                           const CancelToken* cancel, Progress* progress,
                           CollectionOutput* output) {
  // --- pre-backup commands: their outputs go first into the payload stream ----------
  for (const CommandSpec& spec : plan.commands) {
    if (cancel != nullptr && cancel->cancelled()) {
      return WithPhase(cancel->Check("backup"), v1::PHASE_COLLECTION);
    }
    absl::StatusOr<CommandOutput> out = RunCommand(spec);
    std::string problem;
    if (!out.ok()) {
      problem = std::string(out.status().message());
    } else if (out->exit_status != 0) {
      problem = absl::StrCat("exited with status ", out->exit_status,
                             out->stderr_tail.empty() ? "" : ": ", out->stderr_tail);
    }
    if (!problem.empty()) {
      std::string msg = absl::StrCat(spec.critical ? "critical " : "", "command '", spec.name,
                                     "' (", spec.command_line, ") ", problem);
      if (spec.critical) {
        return WithPhase(absl::FailedPreconditionError(msg + "; backup stopped"),
                         v1::PHASE_COLLECTION);
      }
      output->warnings.push_back(
          MakeDataMissingWarning(v1::PHASE_COLLECTION, "commands/" + spec.name, msg));
      if (progress != nullptr) progress->AddWarnings();
      if (!out.ok()) continue;
    }
    v1::CommandResult cr;
    cr.set_name(spec.name);
    cr.set_command_line(spec.command_line);
    cr.set_critical(spec.critical);
    cr.set_exit_status(out->exit_status);
    cr.set_duration_seconds(out->duration_seconds);
    cr.mutable_payload()->set_offset(sink->payload_offset());
    cr.mutable_payload()->set_length(out->stdout_data.size());
    RETURN_IF_ERROR(WithPhase(
        sink->AppendPayload(std::span<const uint8_t>(
            reinterpret_cast<const uint8_t*>(out->stdout_data.data()), out->stdout_data.size())),
        v1::PHASE_ARCHIVE));
    output->command_bytes += out->stdout_data.size();
    RETURN_IF_ERROR(WithPhase(on_command(cr), v1::PHASE_COLLECTION));
  }

  // --- the walk ----------------------------------------------------------------------
  if (plan.parent != nullptr) output->stats.set_parent_snapshot(plan.parent->id());
  fs::WalkOptions walk_options;
  walk_options.excludes = plan.excludes;
  walk_options.one_file_system = plan.one_file_system;
  if (plan.parent != nullptr && !plan.ignore_ctime) {
    // Same inode and ctime as in the parent: xattrs and ACLs are unchanged
    // (setting them moves ctime), so they are not read again.
    ParentSnapshot* p = plan.parent;
    walk_options.known_xattrs = [p](v1::Entry* e) {
      absl::StatusOr<const v1::Entry*> found = p->Find(e->path());
      if (!found.ok() || *found == nullptr) return false;
      const v1::Entry& b = **found;
      if (b.type() != e->type() || b.ino() != e->ino() || b.dev() != e->dev() ||
          b.ctime_ns() != e->ctime_ns()) {
        return false;
      }
      *e->mutable_xattrs() = b.xattrs();
      *e->mutable_acl_access() = b.acl_access();
      *e->mutable_acl_default() = b.acl_default();
      return true;
    };
  }
  absl::StatusOr<std::unique_ptr<fs::TreeWalker>> walker =
      fs::TreeWalker::Open(fs, plan.source, walk_options);
  if (!walker.ok()) return WithPhase(walker.status(), v1::PHASE_COLLECTION);
  ReuseOptions reuse;
  reuse.parent = plan.parent;
  reuse.ignore_ctime = plan.ignore_ctime;
  reuse.align_threshold = plan.align_threshold;
  reuse.window_entries = std::max<size_t>(2, plan.window_entries);
  reuse.chunk_present = plan.parent_chunk_present;
  reuse.parent_required = plan.parent_required;
  TreeCollector collector(fs, sink, cancel, &output->stats, &output->warnings, reuse);
  collector.set_progress(progress);
  absl::Status run = collector.Run(**walker);
  if (!run.ok() && cancel != nullptr && cancel->cancelled()) {
    return WithPhase(cancel->Check("backup"), v1::PHASE_COLLECTION);
  }
  return run;
}

}  // namespace arca
