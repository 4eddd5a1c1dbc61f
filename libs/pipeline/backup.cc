#include "libs/pipeline/backup.h"

#include <unistd.h>

#include "libs/pipeline/local_backup_ports.h"

namespace arca {
namespace {

std::string Hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

}  // namespace

v1::BackupPlan ToBackupPlan(const BackupOptions& options) {
  v1::BackupPlan plan;
  plan.set_source(options.source);
  for (const std::string& e : options.excludes) plan.add_excludes(e);
  plan.set_one_file_system(options.one_file_system);
  for (const CommandSpec& c : options.commands) {
    v1::Command* cmd = plan.add_commands();
    cmd->set_name(c.name);
    cmd->set_command_line(c.command_line);
    cmd->set_critical(c.critical);
  }
  plan.set_codec(static_cast<v1::Codec>(options.codec));
  plan.set_level(options.level);
  plan.set_host(options.host.empty() ? Hostname() : options.host);
  plan.set_metadata_change_detection(options.metadata_change_detection);
  plan.set_parent(options.parent);
  plan.set_ignore_ctime(options.ignore_ctime);
  plan.set_space_safety_factor(options.space_safety_factor);
  plan.set_skip_space_check(!options.space_check);
  plan.mutable_labels()->insert(options.labels.begin(), options.labels.end());
  return plan;
}

BackupResult RunBackup(Repository& repo, fs::FileSystem* fs, const BackupOptions& options,
                       const CancelToken* cancel) {
  const v1::BackupPlan plan = ToBackupPlan(options);
  LocalSnapshotRepository repository(&repo);
  LocalEntrySource entries(plan, fs, &repo, cancel, options.change_window_entries);
  LocalChunkDestination chunks(repo.chunks(), repo.key(), options.workers);
  BackupJobOptions job;
  job.pipeline = "embedded";
  job.progress = options.progress;
  job.cancel = cancel;
  return RunBackupJob(plan, BackupPorts{&repository, &entries, &chunks}, job);
}

}  // namespace arca
