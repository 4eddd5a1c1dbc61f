// Where a repository is, as users name it (--repo, ARCA_REPO, the
// uploader's --repo): a local directory, or "s3://BUCKET[/PREFIX]" for
// S3-compatible object storage. A name with another URL scheme ("gs://x",
// "file:///x") is refused instead of being taken as a relative directory
// called "gs:". Pure functions.
#ifndef ARCA_LIBS_STORE_REPOSITORY_LOCATION_H_
#define ARCA_LIBS_STORE_REPOSITORY_LOCATION_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace arca {

struct RepositoryLocation {
  enum class Kind { kLocal, kS3 };
  Kind kind = Kind::kLocal;
  std::string path;    // kLocal: the directory as given
  std::string bucket;  // kS3
  std::string prefix;  // kS3: key prefix without leading or trailing '/'; "" = bucket root
  // "s3://BUCKET/PREFIX" or the path: how messages name the repository.
  std::string Display() const;
};

// Parses `location`: anything without "SCHEME://" in front (SCHEME = a
// letter followed by letters, digits, "+", "-" or ".") is a local path;
// "s3://BUCKET[/PREFIX]" (scheme case-insensitive) is object storage, with
// BUCKET a valid S3 bucket name (3-63 of [a-z0-9.-], starting and ending
// with a letter or digit) and PREFIX without empty, "." or ".." segments
// (trailing '/' ignored). InvalidArgument naming the location and what is
// wrong: an empty name, an unknown scheme (listing the known ones), a
// "file://" URL (with the path to use instead), a bad bucket or prefix.
absl::StatusOr<RepositoryLocation> ParseRepositoryLocation(std::string_view location);

// ParseRepositoryLocation(location).status().
absl::Status CheckRepositoryLocation(std::string_view location);

}  // namespace arca

#endif  // ARCA_LIBS_STORE_REPOSITORY_LOCATION_H_
