#include "tools/arca/secrets.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace arca::cli {
namespace {

std::optional<std::string> FlagOrEnv(const ParsedArgs& args, const char* flag, const char* env) {
  if (auto v = args.Last(flag)) return *v;
  if (const char* e = std::getenv(env); e != nullptr && *e != '\0') return std::string(e);
  return std::nullopt;
}

std::string FirstLine(std::string text) {
  const size_t nl = text.find('\n');
  if (nl != std::string::npos) text.resize(nl);
  if (!text.empty() && text.back() == '\r') text.pop_back();
  return text;
}

// Reads one line from /dev/tty with echo off. FailedPrecondition without a
// terminal.
absl::StatusOr<std::string> Prompt(const std::string& prompt) {
  const int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (fd < 0) return absl::FailedPreconditionError("no terminal to ask for a password");
  struct termios old_t;
  const bool tty = ::tcgetattr(fd, &old_t) == 0;
  if (tty) {
    struct termios t = old_t;
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(fd, TCSAFLUSH, &t);
  }
  (void)!::write(fd, prompt.data(), prompt.size());
  std::string line;
  char c;
  while (::read(fd, &c, 1) == 1 && c != '\n') line.push_back(c);
  if (tty) ::tcsetattr(fd, TCSAFLUSH, &old_t);
  (void)!::write(fd, "\n", 1);
  ::close(fd);
  return line;
}

}  // namespace

bool HasSecretSource(const ParsedArgs& args) {
  return FlagOrEnv(args, kKeyFileFlag, "ARCA_KEY_FILE").has_value() ||
         FlagOrEnv(args, kPasswordFileFlag, "ARCA_PASSWORD_FILE").has_value() ||
         ::isatty(STDIN_FILENO) == 1;
}

absl::StatusOr<RepositorySecret> SecretFromArgs(const ParsedArgs& args, std::string_view repo) {
  RepositorySecret secret;
  if (auto path = FlagOrEnv(args, kKeyFileFlag, "ARCA_KEY_FILE")) {
    absl::StatusOr<KeyFileSecret> kf = ReadKeyFile(*path);
    if (!kf.ok()) return kf.status();
    secret.key_file = *std::move(kf);
    return secret;
  }
  if (auto path = FlagOrEnv(args, kPasswordFileFlag, "ARCA_PASSWORD_FILE")) {
    absl::StatusOr<std::string> text = ReadSecretFile(*path, "password file");
    if (!text.ok()) return text.status();
    secret.password = FirstLine(*std::move(text));
    if (secret.password->empty()) {
      return absl::InvalidArgumentError(absl::StrCat("password file ", *path, " is empty"));
    }
    return secret;
  }
  if (::isatty(STDIN_FILENO) == 1) {
    absl::StatusOr<std::string> pw = Prompt(absl::StrCat("password for ", std::string(repo), ": "));
    if (pw.ok() && !pw->empty()) {
      secret.password = *std::move(pw);
      return secret;
    }
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "the repository ", std::string(repo),
      " is encrypted: give its password with ARCA_PASSWORD_FILE or --password-file FILE (or at "
      "the terminal prompt), or a key file with --key-file FILE or ARCA_KEY_FILE"));
}

absl::StatusOr<std::string> NewPassword(const std::optional<std::string>& file,
                                        std::string_view what, std::string_view file_flag) {
  if (file.has_value()) {
    absl::StatusOr<std::string> text = ReadSecretFile(*file, "password file");
    if (!text.ok()) return text.status();
    std::string pw = FirstLine(*std::move(text));
    if (pw.empty()) return absl::InvalidArgumentError(absl::StrCat("password file ", *file, " is empty"));
    return pw;
  }
  if (::isatty(STDIN_FILENO) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("no terminal to ask for ", std::string(what),
                                                   ": give it with --", std::string(file_flag),
                                                   " FILE"));
  }
  absl::StatusOr<std::string> a = Prompt(absl::StrCat("enter ", std::string(what), ": "));
  if (!a.ok()) return absl::InvalidArgumentError(a.status().message());
  absl::StatusOr<std::string> b = Prompt(absl::StrCat("repeat ", std::string(what), ": "));
  if (!b.ok()) return absl::InvalidArgumentError(b.status().message());
  if (a->empty()) return absl::InvalidArgumentError("the password is empty");
  if (*a != *b) return absl::InvalidArgumentError("the two passwords differ");
  return *a;
}

absl::Status WriteKeyFile(const std::string& path, const KeyFileSecret& secret) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot create key file ", path, ": ", std::strerror(errno),
        errno == EEXIST ? " (it exists: choose a new path, a key file is never overwritten)" : ""));
  }
  const std::string text = FormatKeyFile(secret);
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    return absl::InternalError(absl::StrCat("cannot write key file ", path));
  }
  return absl::OkStatus();
}

}  // namespace arca::cli
