#include "libs/pipeline/snapshot_diff.h"

#include <algorithm>
#include <memory>

#include "libs/archive/metadata_stream.h"
#include "libs/base/status_macros.h"
#include "libs/pipeline/same_repeated.h"
#include "libs/pipeline/snapshot_reader.h"

namespace arca {
namespace {

// Whether two regular files with the same size hold the same bytes.
absl::StatusOr<bool> SameContent(SnapshotReader& ra, const v1::Entry& a, SnapshotReader& rb,
                                 const v1::Entry& b) {
  if (a.sparse() != b.sparse() || !SameRepeated(a.extents(), b.extents())) return false;
  const uint64_t length = a.payload().length();
  if (length != b.payload().length()) return false;
  if (length == 0) return true;
  ASSIGN_OR_RETURN(std::vector<PayloadPiece> pa, ra.PayloadPieces(a.payload().offset(), length));
  ASSIGN_OR_RETURN(std::vector<PayloadPiece> pb, rb.PayloadPieces(b.payload().offset(), length));
  if (pa == pb) return true;
  // Chunked differently: compare the bytes.
  constexpr uint64_t kBlock = 1 << 20;
  std::string ba, bb;
  for (uint64_t done = 0; done < length;) {
    uint64_t k = std::min(kBlock, length - done);
    ba.resize(k);
    bb.resize(k);
    RETURN_IF_ERROR(ra.ReadPayload(a.payload().offset() + done,
                                   std::span<uint8_t>(reinterpret_cast<uint8_t*>(ba.data()), k)));
    RETURN_IF_ERROR(rb.ReadPayload(b.payload().offset() + done,
                                   std::span<uint8_t>(reinterpret_cast<uint8_t*>(bb.data()), k)));
    if (ba != bb) return false;
    done += k;
  }
  return true;
}

absl::StatusOr<std::vector<std::string>> Changes(SnapshotReader& ra, const v1::Entry& a,
                                                 SnapshotReader& rb, const v1::Entry& b) {
  std::vector<std::string> out;
  const bool same_type = a.type() == b.type();
  if (!same_type) out.push_back("type");
  const bool sized = a.type() == v1::ENTRY_TYPE_REGULAR || a.type() == v1::ENTRY_TYPE_SYMLINK;
  if (same_type && sized && a.size() != b.size()) out.push_back("size");
  if (a.mode() != b.mode()) out.push_back("mode");
  if (a.uid() != b.uid()) out.push_back("uid");
  if (a.gid() != b.gid()) out.push_back("gid");
  if (a.mtime_ns() != b.mtime_ns()) out.push_back("mtime");
  if (same_type && a.type() == v1::ENTRY_TYPE_REGULAR) {
    bool same = a.size() == b.size();
    if (same) {
      ASSIGN_OR_RETURN(same, SameContent(ra, a, rb, b));
    }
    if (!same) out.push_back("content");
  }
  if (same_type && a.symlink_target() != b.symlink_target()) out.push_back("symlink_target");
  if (same_type && a.hardlink_target() != b.hardlink_target()) out.push_back("hardlink_target");
  if (same_type && a.rdev() != b.rdev()) out.push_back("device");
  if (!SameRepeated(a.xattrs(), b.xattrs())) out.push_back("xattrs");
  if (!SameRepeated(a.acl_access(), b.acl_access()) ||
      !SameRepeated(a.acl_default(), b.acl_default())) {
    out.push_back("acl");
  }
  return out;
}

}  // namespace

absl::StatusOr<SnapshotDiff> DiffSnapshots(Repository& repo, absl::string_view from,
                                           absl::string_view to) {
  ASSIGN_OR_RETURN(std::unique_ptr<SnapshotReader> ra, SnapshotReader::Open(repo, from));
  ASSIGN_OR_RETURN(std::unique_ptr<SnapshotReader> rb, SnapshotReader::Open(repo, to));
  SnapshotDiff diff;
  diff.from_id = ra->id();
  diff.to_id = rb->id();
  v1::Entry a, b;
  ASSIGN_OR_RETURN(bool has_a, ra->Next(&a));
  ASSIGN_OR_RETURN(bool has_b, rb->Next(&b));
  while (has_a || has_b) {
    const int c = !has_a ? 1 : !has_b ? -1 : CompareArchiveOrder(a.path(), b.path());
    if (c < 0) {
      diff.removed.push_back(a.path());
      ASSIGN_OR_RETURN(has_a, ra->Next(&a));
    } else if (c > 0) {
      diff.added.push_back(b.path());
      ASSIGN_OR_RETURN(has_b, rb->Next(&b));
    } else {
      ASSIGN_OR_RETURN(std::vector<std::string> changes, Changes(*ra, a, *rb, b));
      if (changes.empty()) {
        ++diff.unchanged;
      } else {
        diff.modified.push_back(ModifiedEntry{a.path(), std::move(changes)});
      }
      ASSIGN_OR_RETURN(has_a, ra->Next(&a));
      ASSIGN_OR_RETURN(has_b, rb->Next(&b));
    }
  }
  return diff;
}

}  // namespace arca
