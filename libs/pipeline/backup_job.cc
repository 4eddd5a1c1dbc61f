#include "libs/pipeline/backup_job.h"

#include <chrono>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/base/phase_status.h"
#include "libs/base/status_macros.h"
#include "libs/chunker/chunker.h"
#include "libs/codec/codec.h"
#include "libs/pipeline/archive_builder.h"
#include "libs/pipeline/backup_plan.h"
#include "libs/pipeline/collector.h"
#include "libs/pipeline/space_check.h"
#include "libs/store/repository.h"

namespace arca {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// A warning that is not a loss of data.
v1::Warning Notice(v1::Phase phase, std::string message) {
  v1::Warning w = MakeDataMissingWarning(phase, "", std::move(message));
  w.set_data_missing(false);
  return w;
}

const char* ParentField(PlanFieldNames names) {
  switch (names) {
    case PlanFieldNames::kFlags:
      return "--parent";
    case PlanFieldNames::kPlan:
      return "plan.parent";
    case PlanFieldNames::kRequest:
      break;
  }
  return "parent";
}

class Job {
 public:
  Job(const v1::BackupPlan& plan, const BackupPorts& ports, const BackupJobOptions& options)
      : plan_(plan),
        ports_(ports),
        options_(options),
        progress_(options.progress != nullptr ? options.progress : &own_progress_) {}

  BackupJobResult Run() {
    const ProgressRun progress_run(progress_, v1::PHASE_SETUP);
    result_.status = Body();
    if (!result_.status.ok()) {
      if (Cancelled())
        result_.status = WithPhase(options_.cancel->Check("backup"), PhaseOf(result_.status));
      result_.exit_code = ExitCodeOf(result_.status);
      return std::move(result_);
    }
    bool partial = false;
    for (const v1::Warning& w : result_.warnings) partial |= w.data_missing();
    result_.exit_code = partial ? ExitCode::kPartial : ExitCode::kSuccess;
    return std::move(result_);
  }

 private:
  bool Cancelled() const { return options_.cancel != nullptr && options_.cancel->cancelled(); }

  void Warn(v1::Warning w) {
    if (options_.on_warning) options_.on_warning(w);
    result_.warnings.push_back(std::move(w));
    progress_->SetWarnings(result_.warnings.size());
  }

  // Bytes a full read of the source collects (a metadata walk); nullopt when
  // the source cannot tell (a notice: the check is skipped).
  absl::StatusOr<std::optional<uint64_t>> FullEstimate() {
    absl::StatusOr<uint64_t> estimate = ports_.entries->EstimateBytes("");
    if (estimate.ok()) return std::optional<uint64_t>(*estimate);
    if (absl::IsUnimplemented(estimate.status()) && !Cancelled()) {
      Warn(Notice(v1::PHASE_SETUP,
                  absl::StrCat(estimate.status().message(), ": the free-space check is skipped")));
      return std::optional<uint64_t>();
    }
    return estimate.status();
  }

  // The free-space check (space_check.h, docs/architecture.md §11): exit 5
  // when the repository has less room than the estimate needs. Without a
  // parent the estimate is a metadata walk of the whole source. With one it
  // is first the parent's bytes_collected (no walk: the common case costs
  // nothing); only when that is refused does a second, precise estimate run
  // (EstimateBytes with the parent: the new and changed files, what the
  // collection will read), and its verdict is final. A source that cannot
  // compare with a parent keeps the first verdict; one whose parent cannot
  // be read is estimated in full (the collection reads everything too).
  absl::Status CheckSpace(const std::optional<SnapshotSummary>& parent) {
    std::optional<uint64_t> to_collect;
    if (parent) {
      to_collect = parent->bytes_collected;
    } else {
      ASSIGN_OR_RETURN(to_collect, FullEstimate());
      if (!to_collect) return absl::OkStatus();
    }
    progress_->SetBytesTotal(*to_collect);
    std::vector<v1::Warning> notices;
    ASSIGN_OR_RETURN(std::optional<SpaceReport> space, ports_.repository->Space(&notices));
    for (v1::Warning& w : notices) Warn(std::move(w));
    if (!space) return absl::OkStatus();
    const double ratio = space->compression_ratio > 0 ? space->compression_ratio : 1.0;
    const double factor = SpaceSafetyFactor(plan_);
    absl::Status verdict =
        CheckFreeSpace(SpaceEstimate{*to_collect, ratio}, space->free_bytes, factor, space->label);
    if (verdict.ok() || !parent || !absl::IsResourceExhausted(verdict)) return verdict;

    absl::StatusOr<uint64_t> changed = ports_.entries->EstimateBytes(parent->id);
    if (changed.ok()) {
      to_collect = *changed;
    } else if (Cancelled()) {
      return changed.status();
    } else if (absl::IsUnimplemented(changed.status())) {
      return verdict;
    } else if (absl::IsNotFound(changed.status()) || absl::IsDataLoss(changed.status())) {
      ASSIGN_OR_RETURN(to_collect, FullEstimate());
      if (!to_collect) return absl::OkStatus();
    } else {
      return changed.status();
    }
    progress_->SetBytesTotal(*to_collect);
    return CheckFreeSpace(SpaceEstimate{*to_collect, ratio}, space->free_bytes, factor,
                          space->label);
  }

  absl::Status Body() {
    const auto job_start = Clock::now();
    const auto wall_start = std::chrono::system_clock::now();
    RETURN_IF_ERROR(CheckBackupPlan(plan_, options_.field_names));

    // --- setup: the repository's configuration ----------------------------------------
    ASSIGN_OR_RETURN(v1::RepositoryConfig config, ports_.repository->Config());
    const ChunkerParams payload_params = ChunkerParams::FromProto(config.payload_chunker());
    const ChunkerParams metadata_params = ChunkerParams::FromProto(config.metadata_chunker());
    for (const ChunkerParams* p : {&payload_params, &metadata_params}) {
      if (absl::Status st = p->Validate(); !st.ok()) {
        return WithPhase(absl::FailedPreconditionError(absl::StrCat(
                             "the repository has invalid chunker parameters in its config: ",
                             st.message(), "; recreate it with `arca init`")),
                         v1::PHASE_SETUP);
      }
    }
    ASSIGN_OR_RETURN(CodecChoice codec, ChooseCodec(plan_, config));

    // --- setup: the parent snapshot (change detection) ---------------------------------
    const std::string group = Repository::GroupName(plan_.host(), plan_.source());
    std::optional<SnapshotSummary> parent;
    if (plan_.metadata_change_detection()) {
      if (!plan_.parent().empty()) {
        absl::StatusOr<SnapshotSummary> s = ports_.repository->GetSnapshot(plan_.parent());
        if (!s.ok()) {
          if (PhaseOf(s.status()) != v1::PHASE_UNSPECIFIED) return s.status();
          return WithPhase(absl::Status(s.status().code() == absl::StatusCode::kNotFound
                                            ? absl::StatusCode::kNotFound
                                            : absl::StatusCode::kInvalidArgument,
                                        absl::StrCat(ParentField(options_.field_names), " ",
                                                     plan_.parent(), ": ", s.status().message())),
                           v1::PHASE_SETUP);
        }
        parent = *s;
      } else {
        absl::StatusOr<std::optional<SnapshotSummary>> latest =
            ports_.repository->LatestSnapshot(group);
        if (!latest.ok()) {
          if (Cancelled()) return latest.status();
          Warn(Notice(v1::PHASE_ARCHIVE,
                      absl::StrCat("cannot list earlier snapshots (", latest.status().message(),
                                   "): every file is read")));
        } else {
          parent = *latest;
        }
      }
    }

    // --- setup: free space (nothing is written before this passes) -----------------------
    if (!plan_.skip_space_check()) RETURN_IF_ERROR(CheckSpace(parent));
    RETURN_IF_ERROR(ports_.repository->BeginWrite(
        absl::StrCat("backup of ", plan_.host(), ":", plan_.source())));

    // --- the pipeline: collection → archive → chunk sink ----------------------------------
    ASSIGN_OR_RETURN(ChunkSink * sink, ports_.chunks->Open(codec.codec, codec.level));
    ArchiveBuilder archive(payload_params, metadata_params, config.chunker_seed(), sink);
    CollectParams params;
    if (parent) params.parent_id = parent->id;
    params.parent_required = !plan_.parent().empty();
    params.align_threshold = payload_params.avg_size;
    const auto collect_start = Clock::now();
    progress_->SetPhase(v1::PHASE_COLLECTION);
    absl::StatusOr<CollectResult> collected = ports_.entries->Collect(
        params, &archive, progress_, [this](const v1::Warning& w) { Warn(w); });
    absl::Status pipeline = collected.status();
    if (pipeline.ok()) pipeline = WithPhase(archive.Finish(), v1::PHASE_ARCHIVE);
    if (!pipeline.ok()) {
      // The sink's failure explains why the archive stopped.
      if (absl::Status w = sink->error(); !w.ok()) pipeline = w;
      sink->Abort(pipeline);
      result_.chunk_totals = sink->totals();
      return pipeline;
    }
    const double collect_seconds = Seconds(Clock::now() - collect_start);
    progress_->SetPhase(v1::PHASE_UPLOAD);
    const auto drain_start = Clock::now();
    absl::Status finished = sink->Finish();
    result_.chunk_totals = sink->totals();
    RETURN_IF_ERROR(finished);
    const double drain_seconds = Seconds(Clock::now() - drain_start);

    // --- commit ------------------------------------------------------------------------
    const auto commit_start = Clock::now();
    progress_->SetPhase(v1::PHASE_COMMIT);
    absl::StatusOr<ChunkIndex> meta_index = sink->BuildIndex(v1::STREAM_KIND_METADATA);
    if (!meta_index.ok()) return WithPhase(meta_index.status(), v1::PHASE_ARCHIVE);
    absl::StatusOr<ChunkIndex> payload_index = sink->BuildIndex(v1::STREAM_KIND_PAYLOAD);
    if (!payload_index.ok()) return WithPhase(payload_index.status(), v1::PHASE_ARCHIVE);
    const ChunkSinkTotals& totals = result_.chunk_totals;
    v1::BackupStats stats = std::move(collected->stats);
    stats.set_metadata_bytes(archive.metadata_length());
    stats.set_chunks_total(totals.chunks_total);
    stats.set_chunks_new(totals.chunks_new);
    stats.set_bytes_new_raw(totals.bytes_new_raw);
    stats.set_bytes_new_stored(totals.bytes_new_stored);
    stats.set_bytes_deduplicated(totals.bytes_deduplicated);
    stats.set_compression_ratio(totals.bytes_new_raw == 0
                                    ? 1.0
                                    : static_cast<double>(totals.bytes_new_stored) /
                                          totals.bytes_new_raw);
    auto& phases = *stats.mutable_phase_seconds();
    phases["collection_and_archive"] = collect_seconds;
    phases["hash_cpu"] = totals.hash_seconds;
    phases["upload_drain"] = drain_seconds;

    v1::Manifest m;
    m.set_group(group);
    m.set_host(plan_.host());
    m.add_sources(plan_.source());
    m.set_time_unix_ns(
        std::chrono::duration_cast<std::chrono::nanoseconds>(wall_start.time_since_epoch())
            .count());
    auto& opts = *m.mutable_options();
    opts["compression"] = std::string(CodecName(static_cast<Codec>(codec.codec)));
    opts["level"] = std::to_string(codec.level);
    opts["one_file_system"] = plan_.one_file_system() ? "true" : "false";
    opts["change_detection"] = plan_.metadata_change_detection() ? "metadata" : "data";
    if (plan_.ignore_ctime()) opts["ignore_ctime"] = "true";
    if (!plan_.excludes().empty()) opts["excludes"] = absl::StrJoin(plan_.excludes(), "\n");
    if (!options_.pipeline.empty()) opts["pipeline"] = options_.pipeline;
    if (!plan_.job_id().empty()) opts["job_id"] = plan_.job_id();
    *m.mutable_labels() = plan_.labels();
    for (const v1::Warning& w : result_.warnings) *m.add_warnings() = w;
    for (v1::CommandResult& c : collected->commands) *m.add_commands() = std::move(c);
    v1::IndexFileInfo* mi = m.add_indexes();
    mi->set_name("metadata.aidx");
    mi->set_stream(v1::STREAM_KIND_METADATA);
    mi->set_chunk_count(meta_index->size());
    mi->set_stream_length(meta_index->stream_length());
    v1::IndexFileInfo* pi = m.add_indexes();
    pi->set_name("payload.aidx");
    pi->set_stream(v1::STREAM_KIND_PAYLOAD);
    pi->set_chunk_count(payload_index->size());
    pi->set_stream_length(payload_index->stream_length());
    phases["commit"] = Seconds(Clock::now() - commit_start);
    stats.set_duration_seconds(Seconds(Clock::now() - job_start));
    *m.mutable_stats() = stats;
    progress_->SetFiles(stats.files());
    progress_->SetBytes(stats.bytes_collected());

    if (Cancelled()) return WithPhase(options_.cancel->Check("backup"), v1::PHASE_COMMIT);
    ASSIGN_OR_RETURN(result_.manifest,
                     ports_.repository->Commit(m, meta_index->Encode(v1::STREAM_KIND_METADATA),
                                               payload_index->Encode(v1::STREAM_KIND_PAYLOAD)));
    return absl::OkStatus();
  }

  const v1::BackupPlan& plan_;
  const BackupPorts& ports_;
  const BackupJobOptions& options_;
  Progress own_progress_;
  Progress* const progress_;
  BackupJobResult result_;
};

}  // namespace

BackupJobResult RunBackupJob(const v1::BackupPlan& plan, const BackupPorts& ports,
                             const BackupJobOptions& options) {
  return Job(plan, ports, options).Run();
}

}  // namespace arca
