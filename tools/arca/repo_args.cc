#include "tools/arca/repo_args.h"

#include "libs/base/status_macros.h"
#include "tools/arca/secrets.h"

namespace arca::cli {

void AddRepositoryFlags(FlagSpec* spec) {
  for (const std::string& f : S3FlagNames()) spec->value_flags.insert(f);
  spec->value_flags.insert(kPasswordFileFlag);
  spec->value_flags.insert(kKeyFileFlag);
}

absl::StatusOr<RepositoryOpenOptions> RepositoryOpenOptionsFromArgs(const ParsedArgs& args) {
  RepositoryOpenOptions options;
  for (const std::string& f : S3FlagNames()) {
    if (auto v = args.Last(f)) RETURN_IF_ERROR(ApplyS3Flag(f, *v, &options.s3));
  }
  S3OptionsFromEnvironment(&options.s3);
  // Asked only when the repository turns out to be encrypted.
  options.secret = [args](const Repository& repo) { return SecretFromArgs(args, repo.path()); };
  options.allow_locked = args.Has("no-key");
  return options;
}

}  // namespace arca::cli
