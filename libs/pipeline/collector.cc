#include "libs/pipeline/collector.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <deque>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "libs/base/phase_status.h"
#include "libs/base/status_macros.h"
#include "libs/fs/file_content_reader.h"

namespace arca {


v1::Warning MakeDataMissingWarning(v1::Phase phase, const std::string& path,
                        std::string message) {
  v1::Warning w;
  w.set_data_missing(true);
  w.set_phase(phase);
  w.set_path(path);
  w.set_message(std::move(message));
  return w;
}



// The collection phase for one tree, feeding the archive phase; with a
// parent snapshot it also decides which files are reused without being read.
//
// Reuse: consecutive unchanged files whose payloads were adjacent in the
// parent form a segment [seg_start_, seg_end_) of the parent's payload
// stream. The parent chunks covering a segment are injected whole into the
// new payload stream (after a forced boundary); the files get offsets in
// them. A chunk at a segment edge that also holds bytes of no reused file is
// injected only if those "padding" bytes are at most 1/kPaddingDivisor of
// it; otherwise the files overlapping it are read again (content dedup still
// finds their unchanged chunks). Entries wait in pending_ (in walk order) until
// their segment is resolved; at most kMaxPending before a partial resolve.
class TreeCollector::Impl {
 public:
  Impl(fs::FileSystem* fs, ArchiveSink* archive, const CancelToken* cancel,
                v1::BackupStats* stats, std::vector<v1::Warning>* warnings,
                ReuseOptions reuse)
      : fs_(fs), archive_(archive), cancel_(cancel), stats_(stats), warnings_(warnings),
        reuse_(reuse) {}

  absl::Status Run(fs::TreeWalker& walker) {
    walker_ = &walker;
    v1::Entry entry;
    while (true) {
      if (cancel_ && cancel_->cancelled()) return cancel_->Check("backup");
      absl::StatusOr<bool> more = walker.Next(&entry);
      if (!more.ok()) return WithPhase(more.status(), v1::PHASE_COLLECTION);
      if (!*more) break;
      RETURN_IF_ERROR(AddEntry(std::move(entry)));
      entry.Clear();
    }
    RETURN_IF_ERROR(Resolve(/*final=*/true));
    for (v1::Warning& w : walker.TakeWarnings()) warnings_->push_back(std::move(w));
    stats_->set_padding_bytes(bytes_injected_ - reused_payload_bytes_);
    return absl::OkStatus();
  }

 private:
  static constexpr uint64_t kPaddingDivisor = 64;
  static constexpr size_t kMaxPending = 8192;

  struct Pending {
    v1::Entry entry;
    bool reuse = false;   // payload comes from the parent's [p_off, p_off + p_len)
    bool reread = false;  // reuse was given up: read the file after all
    uint64_t p_off = 0;
    uint64_t p_len = 0;
  };

  absl::Status AddEntry(v1::Entry entry) {
    const bool has_data = entry.type() == v1::ENTRY_TYPE_REGULAR && entry.size() > 0;
    if (has_data && reuse_.parent != nullptr) {
      absl::StatusOr<const v1::Entry*> before = reuse_.parent->Find(entry.path());
      if (!before.ok()) return WithPhase(before.status(), v1::PHASE_ARCHIVE);
      const v1::Entry* b = *before;
      if (b == nullptr || b->type() != v1::ENTRY_TYPE_REGULAR) {
        stats_->set_files_new(stats_->files_new() + 1);
      } else if (UnchangedSince(entry, *b, reuse_.ignore_ctime)) {
        Pending p;
        p.reuse = true;
        p.p_off = b->payload().offset();
        p.p_len = b->payload().length();
        *entry.mutable_extents() = b->extents();
        entry.set_sparse(b->sparse());
        p.entry = std::move(entry);
        return EnqueueReuse(std::move(p));
      }
    } else if (has_data) {
      stats_->set_files_new(stats_->files_new() + 1);
    }
    if (has_data) {
      RETURN_IF_ERROR(Resolve(/*final=*/true));
      return ReadAndAdd(entry);
    }
    if (!pending_.empty()) {
      pending_.push_back(Pending{std::move(entry)});
      return absl::OkStatus();
    }
    return AddPlain(entry);
  }

  absl::Status EnqueueReuse(Pending p) {
    if (!seg_open_ || p.p_off != seg_end_) {
      RETURN_IF_ERROR(Resolve(/*final=*/true));
      seg_open_ = true;
      seg_start_ = p.p_off;
      injecting_ = false;
    }
    seg_end_ = p.p_off + p.p_len;
    pending_.push_back(std::move(p));
    if (pending_.size() >= kMaxPending) return Resolve(/*final=*/false);
    return absl::OkStatus();
  }

  bool Cheap(uint64_t padding, uint64_t chunk_length) const {
    return padding == 0 || padding * kPaddingDivisor <= chunk_length;
  }

  // Decides edges and emits pending entries. final: the segment is complete
  // (everything is emitted); otherwise only what whole chunks cover so far.
  absl::Status Resolve(bool final) {
    if (pending_.empty()) {
      if (final) seg_open_ = false;
      return absl::OkStatus();
    }
    const ChunkIndex& idx = reuse_.parent->payload_index();
    auto containing = [&](uint64_t offset) -> absl::StatusOr<size_t> {
      ASSIGN_OR_RETURN(ChunkRange r, idx.Find(offset, 1));
      return r.first;
    };
    // Head: the first chunk to inject.
    if (seg_open_ && !injecting_) {
      uint64_t from = seg_start_;
      while (from < seg_end_) {
        absl::StatusOr<size_t> i = containing(from);
        if (!i.ok()) return WithPhase(i.status(), v1::PHASE_ARCHIVE);
        if (Cheap(from - idx.ChunkStart(*i), idx.ChunkLength(*i))) {
          injecting_ = true;
          next_chunk_ = *i;
          parent_base_ = idx.ChunkStart(*i);
          injected_end_ = parent_base_;
          first_injection_ = true;
          break;
        }
        const uint64_t chunk_end = idx.entries()[*i].end_offset;
        for (Pending& p : pending_) {
          if (p.reuse && !p.reread && p.p_off >= from && p.p_off < chunk_end) {
            p.reread = true;
            from = std::max(from, p.p_off + p.p_len);
          }
        }
      }
    }
    // Tail (final) or the whole chunks covered so far (partial).
    uint64_t inject_until = injected_end_;
    if (injecting_ && final) {
      auto last_end = [&] {
        uint64_t e = 0;
        for (const Pending& p : pending_) {
          if (p.reuse && !p.reread) e = p.p_off + p.p_len;
        }
        return e;
      };
      uint64_t upto = last_end();
      while (upto > injected_end_) {
        absl::StatusOr<size_t> j = containing(upto - 1);
        if (!j.ok()) return WithPhase(j.status(), v1::PHASE_ARCHIVE);
        const uint64_t jend = idx.entries()[*j].end_offset;
        if (Cheap(jend - upto, idx.ChunkLength(*j))) {
          inject_until = jend;
          break;
        }
        const uint64_t jstart = idx.ChunkStart(*j);
        for (Pending& p : pending_) {
          if (p.reuse && !p.reread && p.p_off + p.p_len > jstart) p.reread = true;
        }
        upto = last_end();
      }
    } else if (injecting_) {
      absl::StatusOr<size_t> j = containing(seg_end_ - 1);
      if (!j.ok()) return WithPhase(j.status(), v1::PHASE_ARCHIVE);
      const uint64_t jend = idx.entries()[*j].end_offset;
      inject_until = std::max(jend == seg_end_ ? jend : idx.ChunkStart(*j), injected_end_);
    }
    // Emit in walk order.
    while (!pending_.empty()) {
      Pending& p = pending_.front();
      if (!p.reuse) {
        RETURN_IF_ERROR(AddPlain(p.entry));
      } else if (p.reread) {
        RETURN_IF_ERROR(ReadAndAdd(p.entry));
      } else {
        const uint64_t need = p.p_off + p.p_len;
        if (need > inject_until) {
          if (!final) break;
          return WithPhase(absl::InternalError(absl::StrCat(
                               "change detection: '", p.entry.path(), "' needs parent payload up to ",
                               need, " but only ", inject_until, " was planned")),
                           v1::PHASE_ARCHIVE);
        }
        while (injected_end_ < need) {
          const IndexEntry& c = idx.entries()[next_chunk_];
          const uint64_t len = idx.ChunkLength(next_chunk_);
          absl::StatusOr<uint64_t> at = archive_->InjectPayloadChunk(c.digest, len);
          if (!at.ok()) return WithPhase(at.status(), v1::PHASE_ARCHIVE);
          if (first_injection_) {
            new_base_ = *at;
            first_injection_ = false;
          }
          injected_end_ = c.end_offset;
          bytes_injected_ += len;
          ++next_chunk_;
        }
        p.entry.mutable_payload()->set_offset(new_base_ + (p.p_off - parent_base_));
        p.entry.mutable_payload()->set_length(p.p_len);
        stats_->set_files(stats_->files() + 1);
        stats_->set_files_reused(stats_->files_reused() + 1);
        stats_->set_bytes_reused(stats_->bytes_reused() + p.p_len);
        stats_->set_bytes_collected(stats_->bytes_collected() + p.p_len);
        if (p.entry.sparse()) {
          stats_->set_sparse_hole_bytes(stats_->sparse_hole_bytes() + p.entry.size() - p.p_len);
        }
        reused_payload_bytes_ += p.p_len;
        RETURN_IF_ERROR(WithPhase(archive_->AddEntry(p.entry), v1::PHASE_ARCHIVE));
      }
      pending_.pop_front();
    }
    if (final) {
      seg_open_ = false;
      injecting_ = false;
    } else if (!injecting_) {
      seg_start_ = seg_end_;  // everything so far was read again
    }
    return absl::OkStatus();
  }

  absl::Status AddPlain(const v1::Entry& entry) {
    switch (entry.type()) {
      case v1::ENTRY_TYPE_HARDLINK:
        if (omitted_.contains(entry.hardlink_target())) {
          warnings_->push_back(MakeDataMissingWarning(
              v1::PHASE_COLLECTION, entry.path(),
              absl::StrCat("hardlink to '", entry.hardlink_target(),
                           "' not stored: that file could not be read")));
          stats_->set_files_skipped(stats_->files_skipped() + 1);
          return absl::OkStatus();
        }
        stats_->set_other_entries(stats_->other_entries() + 1);
        break;
      case v1::ENTRY_TYPE_DIRECTORY:
        stats_->set_directories(stats_->directories() + 1);
        break;
      case v1::ENTRY_TYPE_REGULAR:
        stats_->set_files(stats_->files() + 1);
        break;
      default:
        stats_->set_other_entries(stats_->other_entries() + 1);
    }
    return WithPhase(archive_->AddEntry(entry), v1::PHASE_ARCHIVE);
  }

  absl::Status ReadAndAdd(v1::Entry& entry) {
    bool stored = true;
    RETURN_IF_ERROR(ReadFile(entry, &stored));
    if (!stored) {
      omitted_.insert(entry.path());
      stats_->set_files_skipped(stats_->files_skipped() + 1);
      return absl::OkStatus();
    }
    stats_->set_files(stats_->files() + 1);
    stats_->set_files_read(stats_->files_read() + 1);
    return WithPhase(archive_->AddEntry(entry), v1::PHASE_ARCHIVE);
  }

  // Reads a regular file's data into the payload stream. *stored = false
  // when the file could not be read (a warning is recorded); the returned
  // status is only for failures that stop the backup.
  absl::Status ReadFile(v1::Entry& entry, bool* stored) {
    const std::string abs = walker_->AbsolutePath(entry.path());
    absl::Status file_error;
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool fatal = false;
      file_error = ReadOnce(abs, entry, &fatal);
      if (fatal) return file_error;
      if (file_error.ok()) return absl::OkStatus();
      if (file_error.code() != absl::StatusCode::kFailedPrecondition) break;
      // Changed between listing and reading, or while being read: take
      // the file's current metadata and read it once more.
      absl::StatusOr<fs::StatInfo> st = fs_->Lstat(abs);
      if (!st.ok()) {
        file_error = st.status();
        break;
      }
      if (!S_ISREG(st->mode)) break;
      entry.set_size(st->size);
      entry.set_mtime_ns(st->mtime_ns);
      entry.set_ctime_ns(st->ctime_ns);
      entry.set_atime_ns(st->atime_ns);
      entry.set_mode(st->mode & 07777);
      entry.set_uid(st->uid);
      entry.set_gid(st->gid);
      entry.set_dev(st->dev);
      entry.set_ino(st->ino);
      entry.set_nlink(st->nlink);
    }
    *stored = false;
    warnings_->push_back(MakeDataMissingWarning(v1::PHASE_COLLECTION, entry.path(),
                                     absl::StrCat("not stored: ", file_error.message())));
    return absl::OkStatus();
  }

  absl::Status ReadOnce(const std::string& abs, v1::Entry& entry, bool* fatal) {
    entry.clear_payload();
    entry.clear_extents();
    entry.set_sparse(false);
    if (entry.size() == 0) return absl::OkStatus();
    ASSIGN_OR_RETURN(std::unique_ptr<fs::FileContentReader> reader,
                     fs::FileContentReader::Open(fs_, abs, entry));
    const bool align = entry.size() >= reuse_.align_threshold;
    if (align) {
      if (absl::Status st = archive_->ForcePayloadBoundary(); !st.ok()) {
        *fatal = true;
        return WithPhase(st, v1::PHASE_ARCHIVE);
      }
    }
    const uint64_t start = archive_->payload_offset();
    const uint64_t expected = reader->data_length();
    uint64_t total = 0;
    while (true) {
      if (cancel_ && cancel_->cancelled()) {
        *fatal = true;
        return cancel_->Check("backup");
      }
      constexpr size_t kReadSize = 1u << 20;
      uint8_t* dst = archive_->ReservePayload(kReadSize);
      absl::StatusOr<size_t> n = reader->Read(std::span<uint8_t>(dst, kReadSize));
      if (!n.ok()) return n.status();
      if (*n == 0) break;
      total += *n;
      absl::Status st = archive_->CommitPayload(*n);
      if (!st.ok()) {
        *fatal = true;
        return WithPhase(st, v1::PHASE_ARCHIVE);
      }
    }
    if (total != expected) {
      return absl::FailedPreconditionError(absl::StrCat(
          abs, " changed while being read (", total, " of ", expected, " bytes)"));
    }
    RETURN_IF_ERROR(reader->CheckUnchanged());
    if (align) {
      if (absl::Status st = archive_->ForcePayloadBoundary(); !st.ok()) {
        *fatal = true;
        return WithPhase(st, v1::PHASE_ARCHIVE);
      }
    }
    entry.mutable_payload()->set_offset(start);
    entry.mutable_payload()->set_length(total);
    if (reader->sparse()) {
      entry.set_sparse(true);
      for (const v1::Extent& e : reader->extents()) *entry.add_extents() = e;
      stats_->set_sparse_hole_bytes(stats_->sparse_hole_bytes() + (entry.size() - total));
    }
    stats_->set_bytes_collected(stats_->bytes_collected() + total);
    stats_->set_bytes_read(stats_->bytes_read() + total);
    return absl::OkStatus();
  }

  fs::FileSystem* fs_;
  ArchiveSink* archive_;
  const CancelToken* cancel_;
  v1::BackupStats* stats_;
  std::vector<v1::Warning>* warnings_;
  ReuseOptions reuse_;
  fs::TreeWalker* walker_ = nullptr;
  absl::flat_hash_set<std::string> omitted_;

  std::deque<Pending> pending_;
  bool seg_open_ = false;
  uint64_t seg_start_ = 0;
  uint64_t seg_end_ = 0;
  bool injecting_ = false;
  bool first_injection_ = false;
  size_t next_chunk_ = 0;
  uint64_t parent_base_ = 0;   // parent offset of the segment's first injected chunk
  uint64_t new_base_ = 0;      // where that chunk starts in the new payload stream
  uint64_t injected_end_ = 0;  // parent offset where the injected chunks end
  uint64_t bytes_injected_ = 0;
  uint64_t reused_payload_bytes_ = 0;
};

TreeCollector::TreeCollector(fs::FileSystem* fs, ArchiveSink* archive,
                             const CancelToken* cancel, v1::BackupStats* stats,
                             std::vector<v1::Warning>* warnings, ReuseOptions reuse)
    : impl_(std::make_unique<Impl>(fs, archive, cancel, stats, warnings, reuse)) {}

TreeCollector::~TreeCollector() = default;

absl::Status TreeCollector::Run(fs::TreeWalker& walker) { return impl_->Run(walker); }

}  // namespace arca
