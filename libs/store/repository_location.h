// Where a repository is, as users name it (--repo, ARCA_REPO, the
// uploader's --repo). Today only local directories are known: a name with a
// URL scheme ("s3://bucket/prefix") is refused instead of being taken as a
// relative directory called "s3:". Pure functions.
#ifndef ARCA_LIBS_STORE_REPOSITORY_LOCATION_H_
#define ARCA_LIBS_STORE_REPOSITORY_LOCATION_H_

#include <string_view>

#include "absl/status/status.h"

namespace arca {

// OK for a local path (anything without "SCHEME://" in front, where SCHEME
// is a letter followed by letters, digits, "+", "-" or "."; and "file://"
// is refused too, with the path to use instead). InvalidArgument naming the
// location, its scheme and the schemes known otherwise; an empty name is
// InvalidArgument as well.
absl::Status CheckRepositoryLocation(std::string_view location);

}  // namespace arca

#endif  // ARCA_LIBS_STORE_REPOSITORY_LOCATION_H_
