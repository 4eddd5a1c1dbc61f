// Opening a repository by the name users give (--repo DIR or
// s3://BUCKET/PREFIX): the one place that turns a location into a local or
// an S3 Repository. The CLI and the uploader use it.
#ifndef ARCA_LIBS_STORE_OPEN_REPOSITORY_H_
#define ARCA_LIBS_STORE_OPEN_REPOSITORY_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "arca/v1/repository.pb.h"
#include "libs/s3/s3_client.h"
#include "libs/store/chunk_store.h"
#include "libs/store/repository.h"

namespace arca {

struct RepositoryOpenOptions {
  LocalChunkStoreOptions local;
  // For s3:// locations; S3OptionsFromEnvironment fills the defaults.
  s3::S3Options s3;
  // Sees every S3 request (metrics); may be null; must outlive the repository.
  s3::S3Observer* s3_observer = nullptr;
  // For an encrypted repository: asked once, after the config was read,
  // for what unlocks it (the CLI reads a key file or password file, or
  // prompts). Unset: an encrypted repository fails to open with
  // FailedPrecondition "... is encrypted and was not unlocked ...".
  std::function<absl::StatusOr<RepositorySecret>(const Repository&)> secret;
  // Open an encrypted repository without unlocking it (verify without the
  // key: frames and CRCs only). `secret` is then not asked.
  bool allow_locked = false;
};

// The S3 settings of the environment: AWS_ENDPOINT_URL (endpoint),
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION
// (default us-east-1). Fields already set in `options` are kept (flags win
// over the environment).
void S3OptionsFromEnvironment(s3::S3Options* options);

// Applies one S3 flag of the CLI or the uploader: "s3-endpoint" URL,
// "s3-addressing" path|virtual, "s3-ca" FILE, "s3-retries" N (0..100),
// "s3-timeout" SECONDS (> 0), "limit-upload" RATE (bytes per second with an
// optional K, M or G suffix, powers of 1024; 0 = unlimited). InvalidArgument
// naming the flag and the value otherwise.
absl::Status ApplyS3Flag(std::string_view name, std::string_view value, s3::S3Options* options);

// The flag names ApplyS3Flag knows.
const std::vector<std::string>& S3FlagNames();

// Usage check before anything is opened: `location` parses, and for s3://
// the endpoint and both credentials are set in `options` or the
// environment. InvalidArgument naming AWS_ENDPOINT_URL / --s3-endpoint or
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY otherwise (exit 2 in the CLI
// and the uploader).
absl::Status CheckRepositoryOpenOptions(std::string_view location,
                                        const RepositoryOpenOptions& options);

// Opens the repository at `location` (ParseRepositoryLocation). For s3://
// the endpoint and credentials must be set (InvalidArgument naming
// AWS_ENDPOINT_URL / AWS_ACCESS_KEY_ID otherwise). An encrypted repository
// is unlocked with options.secret (unless allow_locked). Errors of
// Repository::Open, S3Repository::Open, options.secret and
// Repository::Unlock.
absl::StatusOr<std::unique_ptr<Repository>> OpenRepositoryAt(std::string_view location,
                                                             const RepositoryOpenOptions& options);

// Creates a repository at `location`, as Repository::Init / S3Repository::Init
// (encrypted with `encryption` when not null).
absl::StatusOr<std::unique_ptr<Repository>> InitRepositoryAt(
    std::string_view location, v1::RepositoryConfig config, const RepositoryOpenOptions& options,
    const NewRepositoryKey* encryption = nullptr);

}  // namespace arca

#endif  // ARCA_LIBS_STORE_OPEN_REPOSITORY_H_
