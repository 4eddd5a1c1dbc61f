// Where the CLI finds what unlocks an encrypted repository, and new
// passwords: never a flag value (it would show in `ps` and shell history).
//   key file:  --key-file F, else ARCA_KEY_FILE
//   password:  --password-file F, else ARCA_PASSWORD_FILE (the first line,
//              without its newline), else a prompt on the terminal (/dev/tty,
//              echo off) when stdin is one.
#ifndef ARCA_TOOLS_ARCA_SECRETS_H_
#define ARCA_TOOLS_ARCA_SECRETS_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "libs/base/cli_flags.h"
#include "libs/store/repository.h"

namespace arca::cli {

// The flags every repository command takes for its secret.
inline constexpr char kPasswordFileFlag[] = "password-file";
inline constexpr char kKeyFileFlag[] = "key-file";

// True when a key file or password file is named (flag or environment) or
// stdin is a terminal to prompt on.
bool HasSecretSource(const ParsedArgs& args);

// The secret for the repository at `repo` (named in the prompt).
// Errors: FailedPrecondition naming every source when none is available;
// NotFound / PermissionDenied naming an unreadable file; InvalidArgument
// for a malformed key file or an empty password.
absl::StatusOr<RepositorySecret> SecretFromArgs(const ParsedArgs& args, std::string_view repo);

// A new password: the first line of `file` when given, else asked twice on
// the terminal. InvalidArgument when empty, the two answers differ, or
// there is no terminal (naming the flag to use instead).
absl::StatusOr<std::string> NewPassword(const std::optional<std::string>& file,
                                        std::string_view what, std::string_view file_flag);

// Writes a new key file (mode 0600, must not exist) for `secret`.
absl::Status WriteKeyFile(const std::string& path, const KeyFileSecret& secret);

}  // namespace arca::cli

#endif  // ARCA_TOOLS_ARCA_SECRETS_H_
