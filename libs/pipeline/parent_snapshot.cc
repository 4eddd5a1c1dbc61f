#include "libs/pipeline/parent_snapshot.h"

#include "absl/strings/str_cat.h"
#include "libs/base/bytes.h"
#include "libs/base/status_macros.h"
#include "libs/pipeline/read_ahead_chunk_source.h"
#include "libs/pipeline/same_repeated.h"

namespace arca {
namespace {

// The parent's metadata stream read ahead, for object storage where each
// chunk is a round trip (Find walks the stream forward).
class ReadAheadRepositorySource final : public ChunkSource {
 public:
  ReadAheadRepositorySource(ChunkStore* store, const RepositoryKey* key, ChunkIndex index)
      : index_(std::move(index)), inner_(store, key), ahead_(&index_, &inner_, 8, 4) {}
  absl::StatusOr<std::shared_ptr<const std::string>> GetChunk(const Digest& digest,
                                                              uint64_t expected_length) override {
    return ahead_.GetChunk(digest, expected_length);
  }

 private:
  const ChunkIndex index_;
  RepositoryChunkSource inner_;
  ReadAheadChunkSource ahead_;  // last: joined first
};

}  // namespace

ParentSnapshot::ParentSnapshot(std::unique_ptr<ChunkSource> source, std::string id,
                               ChunkIndex metadata, ChunkIndex payload)
    : id_(std::move(id)),
      metadata_index_(std::move(metadata)),
      payload_index_(std::move(payload)),
      source_(std::move(source)),
      stream_(&metadata_index_, source_.get()),
      reader_(&stream_) {}

absl::StatusOr<std::unique_ptr<ParentSnapshot>> ParentSnapshot::Open(Repository& repo,
                                                                     absl::string_view id) {
  ASSIGN_OR_RETURN(LoadedSnapshot loaded, repo.LoadSnapshot(std::string(id)));
  std::unique_ptr<ChunkSource> source;
  if (repo.local_chunks() == nullptr) {  // object storage: read ahead
    ASSIGN_OR_RETURN(ChunkIndex meta,
                     ChunkIndex::Decode(AsBytes(loaded.metadata_index), v1::STREAM_KIND_METADATA,
                                        absl::StrCat(id, "/metadata.aidx")));
    source = std::make_unique<ReadAheadRepositorySource>(repo.chunks(), repo.key(), std::move(meta));
  } else {
    source = std::make_unique<RepositoryChunkSource>(repo.chunks(), repo.key());
  }
  return FromIndexes(loaded.manifest.id(), loaded.metadata_index, loaded.payload_index,
                     std::move(source));
}

absl::StatusOr<std::unique_ptr<ParentSnapshot>> ParentSnapshot::FromIndexes(
    std::string id, const std::string& metadata_index, const std::string& payload_index,
    std::unique_ptr<ChunkSource> source) {
  ASSIGN_OR_RETURN(ChunkIndex meta,
                   ChunkIndex::Decode(AsBytes(metadata_index), v1::STREAM_KIND_METADATA,
                                      absl::StrCat(id, "/metadata.aidx")));
  ASSIGN_OR_RETURN(ChunkIndex payload,
                   ChunkIndex::Decode(AsBytes(payload_index), v1::STREAM_KIND_PAYLOAD,
                                      absl::StrCat(id, "/payload.aidx")));
  return std::unique_ptr<ParentSnapshot>(
      new ParentSnapshot(std::move(source), std::move(id), std::move(meta), std::move(payload)));
}

absl::StatusOr<const v1::Entry*> ParentSnapshot::Find(absl::string_view path) {
  if (!error_.ok()) return error_;
  std::string_view want(path.data(), path.size());
  while (!done_ && (!has_current_ || CompareArchiveOrder(current_.path(), want) < 0)) {
    absl::StatusOr<bool> more = reader_.Next(&current_);
    if (!more.ok()) {
      // A damaged or missing chunk (or records that do not decode) is
      // DataLoss; anything else (an uploader unreachable, cancelled) keeps
      // its code. Either way the stream cannot go on from here.
      const absl::Status& st = more.status();
      const absl::StatusCode code =
          absl::IsDataLoss(st) || absl::IsNotFound(st) || absl::IsInvalidArgument(st)
              ? absl::StatusCode::kDataLoss
              : st.code();
      error_ = absl::Status(code, absl::StrCat("parent snapshot ", id_, ": ", st.message()));
      return error_;
    }
    has_current_ = *more;
    done_ = !*more;
  }
  if (has_current_ && current_.path() == want) return &current_;
  return nullptr;
}

bool UnchangedSince(const v1::Entry& now, const v1::Entry& before, bool ignore_ctime) {
  if (now.type() != v1::ENTRY_TYPE_REGULAR || before.type() != v1::ENTRY_TYPE_REGULAR) {
    return false;
  }
  if (now.nlink() > 1 || before.nlink() > 1) return false;  // hardlinks are read
  if (now.size() != before.size() || now.mode() != before.mode() || now.uid() != before.uid() ||
      now.gid() != before.gid() || now.mtime_ns() != before.mtime_ns()) {
    return false;
  }
  if (!ignore_ctime && now.ctime_ns() != before.ctime_ns()) return false;
  // The parent stored the whole payload (a file whose read failed has no entry).
  const uint64_t stored = before.sparse() ? before.payload().length() : before.size();
  if (before.payload().length() != stored) return false;
  return SameRepeated(now.xattrs(), before.xattrs()) &&
         SameRepeated(now.acl_access(), before.acl_access()) &&
         SameRepeated(now.acl_default(), before.acl_default());
}

}  // namespace arca
