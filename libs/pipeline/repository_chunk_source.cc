#include "libs/pipeline/repository_chunk_source.h"

#include "absl/strings/str_cat.h"
#include "libs/blob/sealed_blob.h"

namespace arca {

absl::StatusOr<std::shared_ptr<const std::string>> RepositoryChunkSource::GetChunk(
    const Digest& digest, uint64_t expected_length) {
  absl::StatusOr<std::string> blob = store_->Get(digest);
  if (!blob.ok()) {
    if (blob.status().code() == absl::StatusCode::kNotFound) {
      return absl::DataLossError(blob.status().message());
    }
    return blob.status();
  }
  absl::StatusOr<std::string> raw = DecodeChunkBlob(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(blob->data()), blob->size()),
      digest, key_);
  if (!raw.ok()) {
    if (!absl::IsDataLoss(raw.status())) return raw.status();
    // Self-healing: the next backup of this data must not deduplicate
    // against the damaged blob.
    absl::StatusOr<std::string> aside = store_->MoveAside(digest);
    if (aside.ok()) {
      return absl::DataLossError(absl::StrCat(raw.status().message(), "; moved aside as ", *aside,
                                              ": the next backup of this data stores it again"));
    }
    if (absl::IsUnimplemented(aside.status()) || absl::IsNotFound(aside.status())) {
      return raw.status();
    }
    return absl::DataLossError(absl::StrCat(
        raw.status().message(), "; could not move it aside: ", aside.status().message()));
  }
  if (raw->size() != expected_length) {
    // The blob is what its name says (SHA-256): the index is wrong, not it.
    return absl::DataLossError(absl::StrCat("chunk ", digest.Hex(), " holds ", raw->size(),
                                            " bytes but the index says ", expected_length));
  }
  return std::make_shared<const std::string>(std::move(*raw));
}

}  // namespace arca
