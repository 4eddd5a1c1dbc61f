// The JSON files of a repository (docs/formats/repository.md): a snapshot's
// manifest.json and REPO/config, protobuf JSON mapping. Pure functions.
#ifndef ARCA_LIBS_STORE_REPOSITORY_JSON_H_
#define ARCA_LIBS_STORE_REPOSITORY_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "arca/v1/repository.pb.h"

namespace arca {

// JSON of a manifest (protobuf JSON mapping, proto field names, every field
// printed, pretty). Internal error only if the message cannot be printed.
absl::StatusOr<std::string> ManifestToJson(const v1::Manifest& manifest);
// Parses a manifest; unknown fields are ignored. `name` (a path) is named in
// errors: DataLoss if it is not a valid manifest or has no format_version,
// FailedPrecondition if its format_version is newer than 1.
absl::StatusOr<v1::Manifest> ManifestFromJson(std::string_view json, std::string_view name);

// The same for REPO/config: DataLoss "repository config NAME is corrupt: ..."
// or FailedPrecondition "repository format N is not supported by this arca
// (supports 1)".
absl::StatusOr<std::string> RepositoryConfigToJson(const v1::RepositoryConfig& config);
absl::StatusOr<v1::RepositoryConfig> RepositoryConfigFromJson(std::string_view json,
                                                              std::string_view name);

// The format version this code reads and writes.
inline constexpr uint32_t kRepositoryFormatVersion = 1;
// The config format of an encrypted repository (older arcas refuse it).
inline constexpr uint32_t kEncryptedRepositoryFormatVersion = 2;

// Key slot records (REPO/keys/<id>) as JSON, like the config. Parsing checks
// the slot (CheckKeySlot) against `repository_id` and that its id is
// `expected_id`: DataLoss naming `name` otherwise.
absl::StatusOr<std::string> KeySlotToJson(const v1::KeySlot& slot);
absl::StatusOr<v1::KeySlot> KeySlotFromJson(std::string_view json, std::string_view name,
                                            std::string_view repository_id,
                                            std::string_view expected_id);

}  // namespace arca

#endif  // ARCA_LIBS_STORE_REPOSITORY_JSON_H_
