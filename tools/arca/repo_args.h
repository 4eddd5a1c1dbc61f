// The flags every CLI command that names a repository takes, and the
// RepositoryOpenOptions they give: the S3 flags (open_repository.h) and the
// secret flags (secrets.h). One place for arca.cc's commands and arca mount.
#ifndef ARCA_TOOLS_ARCA_REPO_ARGS_H_
#define ARCA_TOOLS_ARCA_REPO_ARGS_H_

#include "absl/status/statusor.h"
#include "libs/base/cli_flags.h"
#include "libs/store/open_repository.h"

namespace arca::cli {

// Adds the S3 flags, --password-file and --key-file to `spec`.
void AddRepositoryFlags(FlagSpec* spec);

// The S3 settings of the flags and the environment, the secret provider
// (SecretFromArgs, asked only for an encrypted repository; `args` is
// copied into it) and allow_locked = --no-key. InvalidArgument for a bad
// S3 flag value (exit 2).
absl::StatusOr<RepositoryOpenOptions> RepositoryOpenOptionsFromArgs(const ParsedArgs& args);

}  // namespace arca::cli

#endif  // ARCA_TOOLS_ARCA_REPO_ARGS_H_
