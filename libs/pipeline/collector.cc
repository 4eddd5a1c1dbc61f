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

v1::Warning MakeDataMissingWarning(v1::Phase phase, const std::string& path, std::string message) {
  v1::Warning w;
  w.set_data_missing(true);
  w.set_phase(phase);
  w.set_path(path);
  w.set_message(std::move(message));
  return w;
}

// The collection phase for one tree, feeding the archive phase; with a
// parent snapshot it also decides which files are reused without being read
// (docs/change-detection.md).
//
// With a parent, entries wait in a window (walk order). When the window is
// full (ReuseOptions::window_entries) or the walk ends, it is resolved:
//  1. every parent payload chunk touched by an unchanged file of the window
//     is a candidate; a candidate is kept only if the bytes in it that belong
//     to no unchanged file of the window ("padding") are at most
//     1/kPaddingDivisor of it. Files touching a dropped chunk are read after
//     all, which can drop further chunks (repeated until stable);
//  2. the kept chunks are injected into the new payload stream in parent
//     order (a file spanning several chunks finds them adjacent);
//  3. the files to read (changed, new, and those given up in 1) are read;
//  4. the entries are written in walk order, unchanged files pointing into
//     the injected chunks.
// A full window ends between two unchanged files that share no parent chunk
// when it can (see ResolveWindow), so no chunk is injected twice while the
// tree is walked in the parent's order.
class TreeCollector::Impl {
 public:
  Impl(fs::FileSystem* fs, ArchiveSink* archive, const CancelToken* cancel, v1::BackupStats* stats,
       std::vector<v1::Warning>* warnings, ReuseOptions reuse)
      : fs_(fs),
        archive_(archive),
        cancel_(cancel),
        stats_(stats),
        warnings_(warnings),
        reuse_(reuse) {}

  void set_progress(Progress* progress) { progress_ = progress; }

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
    while (!window_.empty()) RETURN_IF_ERROR(ResolveWindow(/*final=*/true));
    for (v1::Warning& w : walker.TakeWarnings()) {
      warnings_->push_back(std::move(w));
      if (progress_) progress_->AddWarnings();
    }
    stats_->set_padding_bytes(bytes_injected_ - reused_payload_bytes_);
    return absl::OkStatus();
  }

 private:
  static constexpr uint64_t kPaddingDivisor = 64;

  enum class Kind { kPlain, kReuse, kRead };
  struct Pending {
    v1::Entry entry;
    Kind kind = Kind::kPlain;
    uint64_t p_off = 0;  // kReuse: the parent's payload range
    uint64_t p_len = 0;
    size_t first_chunk = 0;  // kReuse: parent chunks it touches
    size_t last_chunk = 0;
    bool stored = true;  // kRead: false when the file could not be read
  };

  absl::Status AddEntry(v1::Entry entry) {
    const bool has_data = entry.type() == v1::ENTRY_TYPE_REGULAR && entry.size() > 0;
    if (reuse_.parent == nullptr) {
      if (has_data) {
        stats_->set_files_new(stats_->files_new() + 1);
        return ReadAndAdd(entry);
      }
      return AddPlain(entry);
    }
    Pending p;
    if (has_data) {
      ASSIGN_OR_RETURN(const v1::Entry* b, FindInParent(entry.path()));
      p.kind = Kind::kRead;
      if (b == nullptr || b->type() != v1::ENTRY_TYPE_REGULAR) {
        stats_->set_files_new(stats_->files_new() + 1);
      } else if (UnchangedSince(entry, *b, reuse_.ignore_ctime)) {
        const ChunkIndex& idx = reuse_.parent->payload_index();
        absl::StatusOr<ChunkRange> r = idx.Find(b->payload().offset(), b->payload().length());
        bool stored = r.ok() && !r->empty;
        if (stored) {
          absl::StatusOr<bool> present = ParentChunksStored(r->first, r->last);
          if (!present.ok()) return WithPhase(present.status(), v1::PHASE_UPLOAD);
          stored = *present;
        }
        if (stored) {
          p.kind = Kind::kReuse;
          p.p_off = b->payload().offset();
          p.p_len = b->payload().length();
          p.first_chunk = r->first;
          p.last_chunk = r->last;
          *entry.mutable_extents() = b->extents();
          entry.set_sparse(b->sparse());
        }
      }
    } else if (window_.empty()) {
      return AddPlain(entry);
    }
    p.entry = std::move(entry);
    window_.push_back(std::move(p));
    if (window_.size() >= std::max(reuse_.window_entries, next_resolve_at_)) {
      return ResolveWindow(/*final=*/false);
    }
    return absl::OkStatus();
  }

  // The parent's entry at `path` (ParentSnapshot::Find), or nullptr. A
  // damaged metadata stream stops the backup only when the parent is
  // required; otherwise it is a warning, once, and from then on the parent
  // has no entries (every later file is read).
  absl::StatusOr<const v1::Entry*> FindInParent(const std::string& path) {
    if (parent_damaged_) return nullptr;
    absl::StatusOr<const v1::Entry*> before = reuse_.parent->Find(path);
    if (before.ok()) return before;
    if (reuse_.parent_required || !absl::IsDataLoss(before.status())) {
      return WithPhase(before.status(), v1::PHASE_ARCHIVE);
    }
    parent_damaged_ = true;
    v1::Warning w = MakeDataMissingWarning(
        v1::PHASE_ARCHIVE, path,
        absl::StrCat(before.status().message(),
                     ": the parent's metadata is unreadable from here on, so every file from "
                     "this one on is read (run a verify)"));
    w.set_data_missing(false);
    warnings_->push_back(std::move(w));
    if (progress_) progress_->AddWarnings();
    return nullptr;
  }

  // Whether every parent chunk first..last is still stored. Consecutive
  // small files share chunks: the last answer is remembered.
  absl::StatusOr<bool> ParentChunksStored(size_t first, size_t last) {
    if (!reuse_.chunk_present) return true;
    const ChunkIndex& idx = reuse_.parent->payload_index();
    for (size_t i = first; i <= last; ++i) {
      if (!have_checked_ || checked_index_ != i) {
        ASSIGN_OR_RETURN(checked_present_, reuse_.chunk_present(idx.entries()[i].digest));
        checked_index_ = i;
        have_checked_ = true;
      }
      if (!checked_present_) return false;
    }
    return true;
  }

  static uint64_t Overlap(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1) {
    const uint64_t lo = std::max(a0, b0), hi = std::min(a1, b1);
    return hi > lo ? hi - lo : 0;
  }

  // Resolves the window's first entries (all of them when final).
  absl::Status ResolveWindow(bool final) {
    const ChunkIndex& idx = reuse_.parent->payload_index();
    size_t count = window_.size();
    if (!final) {
      // End the window between two unchanged files that share no parent
      // chunk (e.g. around a large, chunk-aligned file), the latest such
      // place, so every chunk is decided with all of its users. Without one,
      // end it before the last chunk and read the one file that straddles
      // into it (its bytes there become a little padding).
      std::vector<size_t> reuse_at;
      for (size_t i = 0; i < window_.size(); ++i) {
        if (window_[i].kind == Kind::kReuse) reuse_at.push_back(i);
      }
      bool split = false;
      for (size_t r = reuse_at.size(); r-- > 1;) {
        const Pending& a = window_[reuse_at[r - 1]];
        const Pending& b = window_[reuse_at[r]];
        if (a.last_chunk < b.first_chunk) {
          count = reuse_at[r];
          split = true;
          break;
        }
      }
      if (!split && !reuse_at.empty()) {
        const size_t last = window_[reuse_at.back()].last_chunk;
        for (size_t i : reuse_at) {
          if (window_[i].last_chunk < last) continue;
          if (window_[i].first_chunk < last) {
            window_[i].kind = Kind::kRead;  // straddles into the last chunk
            count = i + 1;
          } else {
            count = i;
          }
          break;
        }
        // One chunk with more users than the window: wait for more of
        // them, up to 4 windows, then decide with what is there.
        if (count == 0 && window_.size() < 4 * reuse_.window_entries) {
          next_resolve_at_ = window_.size() + std::max<size_t>(1, reuse_.window_entries / 4);
          return absl::OkStatus();
        }
        if (count == 0) count = window_.size();
      }
    }

    // 1. Candidate chunks, their coverage, and the rule.
    absl::flat_hash_map<size_t, uint64_t> covered;
    absl::flat_hash_map<size_t, std::vector<size_t>> users;  // chunk → window indices
    for (size_t i = 0; i < count; ++i) {
      const Pending& p = window_[i];
      if (p.kind != Kind::kReuse) continue;
      for (size_t k = p.first_chunk; k <= p.last_chunk; ++k) {
        covered[k] +=
            Overlap(p.p_off, p.p_off + p.p_len, idx.ChunkStart(k), idx.entries()[k].end_offset);
        users[k].push_back(i);
      }
    }
    std::vector<size_t> check;
    for (const auto& [k, c] : covered) check.push_back(k);
    absl::flat_hash_set<size_t> dropped;
    while (!check.empty()) {
      const size_t k = check.back();
      check.pop_back();
      if (dropped.contains(k)) continue;
      const uint64_t len = idx.ChunkLength(k);
      if ((len - covered[k]) * kPaddingDivisor <= len) continue;
      dropped.insert(k);
      for (size_t i : users[k]) {
        Pending& p = window_[i];
        if (p.kind != Kind::kReuse) continue;
        p.kind = Kind::kRead;  // read it after all
        for (size_t j = p.first_chunk; j <= p.last_chunk; ++j) {
          covered[j] -=
              Overlap(p.p_off, p.p_off + p.p_len, idx.ChunkStart(j), idx.entries()[j].end_offset);
          if (j != k) check.push_back(j);
        }
      }
    }

    // 2. Inject the kept chunks in parent order.
    std::vector<size_t> keep;
    for (const auto& [k, c] : covered) {
      if (!dropped.contains(k) && c > 0) keep.push_back(k);
    }
    std::sort(keep.begin(), keep.end());
    absl::flat_hash_map<size_t, uint64_t> new_start;
    for (size_t k : keep) {
      if (cancel_ && cancel_->cancelled()) return cancel_->Check("backup");
      const uint64_t len = idx.ChunkLength(k);
      absl::StatusOr<uint64_t> at = archive_->InjectPayloadChunk(idx.entries()[k].digest, len);
      if (!at.ok()) return WithPhase(at.status(), v1::PHASE_ARCHIVE);
      new_start[k] = *at;
      bytes_injected_ += len;
    }

    // 3. Read the files that must be read.
    for (size_t i = 0; i < count; ++i) {
      Pending& p = window_[i];
      if (p.kind != Kind::kRead) continue;
      RETURN_IF_ERROR(ReadFile(p.entry, &p.stored));
    }

    // 4. Write the entries in walk order.
    for (size_t i = 0; i < count; ++i) {
      Pending& p = window_[i];
      switch (p.kind) {
        case Kind::kPlain:
          RETURN_IF_ERROR(AddPlain(p.entry));
          break;
        case Kind::kRead:
          RETURN_IF_ERROR(AddRead(p.entry, p.stored));
          break;
        case Kind::kReuse: {
          p.entry.mutable_payload()->set_offset(new_start[p.first_chunk] +
                                                (p.p_off - idx.ChunkStart(p.first_chunk)));
          p.entry.mutable_payload()->set_length(p.p_len);
          stats_->set_files(stats_->files() + 1);
          stats_->set_files_reused(stats_->files_reused() + 1);
          stats_->set_bytes_reused(stats_->bytes_reused() + p.p_len);
          stats_->set_bytes_collected(stats_->bytes_collected() + p.p_len);
          if (p.entry.sparse()) {
            stats_->set_sparse_hole_bytes(stats_->sparse_hole_bytes() + p.entry.size() - p.p_len);
          }
          reused_payload_bytes_ += p.p_len;
          if (progress_) {
            progress_->AddFiles();
            progress_->AddBytes(p.p_len);
            progress_->AddEntries();
          }
          RETURN_IF_ERROR(WithPhase(archive_->AddEntry(p.entry), v1::PHASE_ARCHIVE));
          break;
        }
      }
    }
    window_.erase(window_.begin(), window_.begin() + static_cast<std::ptrdiff_t>(count));
    return absl::OkStatus();
  }

  absl::Status AddPlain(const v1::Entry& entry) {
    switch (entry.type()) {
      case v1::ENTRY_TYPE_HARDLINK:
        if (omitted_.contains(entry.hardlink_target())) {
          warnings_->push_back(
              MakeDataMissingWarning(v1::PHASE_COLLECTION, entry.path(),
                                     absl::StrCat("hardlink to '", entry.hardlink_target(),
                                                  "' not stored: that file could not be read")));
          stats_->set_files_skipped(stats_->files_skipped() + 1);
          if (progress_) progress_->AddWarnings();
          return absl::OkStatus();
        }
        stats_->set_other_entries(stats_->other_entries() + 1);
        break;
      case v1::ENTRY_TYPE_DIRECTORY:
        stats_->set_directories(stats_->directories() + 1);
        break;
      case v1::ENTRY_TYPE_REGULAR:
        stats_->set_files(stats_->files() + 1);
        if (progress_) progress_->AddFiles();
        break;
      default:
        stats_->set_other_entries(stats_->other_entries() + 1);
    }
    if (progress_) progress_->AddEntries();
    return WithPhase(archive_->AddEntry(entry), v1::PHASE_ARCHIVE);
  }

  absl::Status ReadAndAdd(v1::Entry& entry) {
    bool stored = true;
    RETURN_IF_ERROR(ReadFile(entry, &stored));
    return AddRead(entry, stored);
  }

  // Records a file that was read (or could not be read: stored = false).
  absl::Status AddRead(const v1::Entry& entry, bool stored) {
    if (!stored) {
      omitted_.insert(entry.path());
      stats_->set_files_skipped(stats_->files_skipped() + 1);
      return absl::OkStatus();
    }
    stats_->set_files(stats_->files() + 1);
    stats_->set_files_read(stats_->files_read() + 1);
    if (progress_) {
      progress_->AddFiles();
      progress_->AddEntries();
    }
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
      attempt_bytes_ = 0;
      file_error = ReadOnce(abs, entry, &fatal);
      if (!file_error.ok() && progress_) progress_->SubtractBytes(attempt_bytes_);
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
    warnings_->push_back(MakeDataMissingWarning(
        v1::PHASE_COLLECTION, entry.path(), absl::StrCat("not stored: ", file_error.message())));
    if (progress_) progress_->AddWarnings();
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
      if (progress_) {
        progress_->AddBytes(*n);
        attempt_bytes_ += *n;
      }
      absl::Status st = archive_->CommitPayload(*n);
      if (!st.ok()) {
        *fatal = true;
        return WithPhase(st, v1::PHASE_ARCHIVE);
      }
    }
    if (total != expected) {
      return absl::FailedPreconditionError(
          absl::StrCat(abs, " changed while being read (", total, " of ", expected, " bytes)"));
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

  std::deque<Pending> window_;
  size_t next_resolve_at_ = 0;
  uint64_t bytes_injected_ = 0;
  uint64_t reused_payload_bytes_ = 0;
  Progress* progress_ = nullptr;
  uint64_t attempt_bytes_ = 0;  // bytes of the current read counted in progress_
  // ParentChunksStored's last answer.
  bool have_checked_ = false;
  size_t checked_index_ = 0;
  bool checked_present_ = false;
  bool parent_damaged_ = false;  // the parent's metadata stream failed (FindInParent)
};

TreeCollector::TreeCollector(fs::FileSystem* fs, ArchiveSink* archive, const CancelToken* cancel,
                             v1::BackupStats* stats, std::vector<v1::Warning>* warnings,
                             ReuseOptions reuse)
    : impl_(std::make_unique<Impl>(fs, archive, cancel, stats, warnings, reuse)) {}

TreeCollector::~TreeCollector() = default;

absl::Status TreeCollector::Run(fs::TreeWalker& walker) { return impl_->Run(walker); }

void TreeCollector::set_progress(Progress* progress) { impl_->set_progress(progress); }

}  // namespace arca
