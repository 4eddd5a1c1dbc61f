// MemoryChunkStore: see chunk_store.h.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"
#include "libs/store/chunk_store.h"

namespace arca {

absl::StatusOr<bool> MemoryChunkStore::Has(const Digest& digest) {
  absl::MutexLock l(&mu_);
  return chunks_.contains(digest);
}

absl::StatusOr<bool> MemoryChunkStore::Put(const Digest& digest, std::string_view blob) {
  absl::MutexLock l(&mu_);
  return chunks_.try_emplace(digest, blob).second;
}

absl::StatusOr<std::string> MemoryChunkStore::Get(const Digest& digest) {
  absl::MutexLock l(&mu_);
  auto it = chunks_.find(digest);
  if (it == chunks_.end()) {
    return absl::NotFoundError(
        absl::StrCat("chunk ", digest.Hex(), " is missing from the in-memory chunk store"));
  }
  return it->second;
}

absl::Status MemoryChunkStore::ForEach(
    const std::function<absl::Status(const Digest&, uint64_t)>& fn) {
  // Copy first: `fn` may call back into the store.
  std::vector<std::pair<Digest, uint64_t>> all;
  {
    absl::MutexLock l(&mu_);
    all.reserve(chunks_.size());
    for (const auto& [digest, blob] : chunks_) all.emplace_back(digest, blob.size());
  }
  for (const auto& [digest, size] : all) RETURN_IF_ERROR(fn(digest, size));
  return absl::OkStatus();
}

absl::StatusOr<std::string> MemoryChunkStore::MoveAside(const Digest& digest) {
  absl::MutexLock l(&mu_);
  auto it = chunks_.find(digest);
  if (it == chunks_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "chunk ", digest.Hex(), " is missing from the in-memory chunk store; nothing to move"));
  }
  bad_[digest] = std::move(it->second);
  chunks_.erase(it);
  return absl::StrCat("in-memory bad chunk ", digest.Hex());
}

std::vector<Digest> MemoryChunkStore::bad_chunks() {
  absl::MutexLock l(&mu_);
  std::vector<Digest> out;
  for (const auto& [digest, blob] : bad_) out.push_back(digest);
  std::sort(out.begin(), out.end());
  return out;
}

absl::Status MemoryChunkStore::Remove(const Digest& digest) {
  absl::MutexLock l(&mu_);
  if (chunks_.erase(digest) == 0) {
    return absl::NotFoundError(absl::StrCat(
        "chunk ", digest.Hex(), " is missing from the in-memory chunk store; nothing to remove"));
  }
  return absl::OkStatus();
}

absl::Status MemoryChunkStore::Corrupt(const Digest& digest, std::string blob) {
  absl::MutexLock l(&mu_);
  auto it = chunks_.find(digest);
  if (it == chunks_.end()) {
    return absl::NotFoundError(
        absl::StrCat("chunk ", digest.Hex(), " is missing from the in-memory chunk store"));
  }
  it->second = std::move(blob);
  return absl::OkStatus();
}

}  // namespace arca
