#include "libs/store/repository_location.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace arca {
namespace {

std::string S(std::string_view v) { return std::string(v); }

bool IsScheme(std::string_view scheme) {
  if (scheme.empty() || !absl::ascii_isalpha(static_cast<unsigned char>(scheme[0]))) return false;
  for (char c : scheme) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') {
      return false;  // not a scheme: a directory name with "://" in it
    }
  }
  return true;
}

bool IsBucketName(std::string_view b) {
  if (b.size() < 3 || b.size() > 63) return false;
  for (char c : b) {
    if (!(absl::ascii_islower(static_cast<unsigned char>(c)) ||
          absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-')) {
      return false;
    }
  }
  auto alnum = [](char c) {
    return absl::ascii_islower(static_cast<unsigned char>(c)) ||
           absl::ascii_isdigit(static_cast<unsigned char>(c));
  };
  return alnum(b.front()) && alnum(b.back());
}

}  // namespace

std::string RepositoryLocation::Display() const {
  if (kind == Kind::kLocal) return path;
  return prefix.empty() ? absl::StrCat("s3://", bucket)
                        : absl::StrCat("s3://", bucket, "/", prefix);
}

absl::StatusOr<RepositoryLocation> ParseRepositoryLocation(std::string_view location) {
  if (location.empty()) {
    return absl::InvalidArgumentError(
        "the repository location is empty: give a directory or s3://BUCKET/PREFIX");
  }
  RepositoryLocation out;
  const size_t sep = location.find("://");
  if (sep == std::string_view::npos || sep == 0 || !IsScheme(location.substr(0, sep))) {
    out.path = S(location);
    return out;
  }
  const std::string shown = S(location.substr(0, 200));
  const std::string scheme = absl::AsciiStrToLower(S(location.substr(0, sep)));
  const std::string_view rest = location.substr(sep + 3);
  if (scheme == "file") {
    return absl::InvalidArgumentError(absl::StrCat("repository '", shown,
                                                   "': give the directory as a path (", S(rest),
                                                   "), not as a file:// URL"));
  }
  if (scheme != "s3") {
    return absl::InvalidArgumentError(
        absl::StrCat("repository '", shown, "': unknown scheme '", S(location.substr(0, sep)),
                     "://'; this arca knows local directories (a path such as /srv/arca/repo) "
                     "and s3://BUCKET/PREFIX (S3-compatible object storage)"));
  }
  const size_t slash = rest.find('/');
  out.kind = RepositoryLocation::Kind::kS3;
  out.bucket = S(rest.substr(0, slash));
  if (!IsBucketName(out.bucket)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "repository '", shown, "': '", out.bucket,
        "' is not an S3 bucket name (3 to 63 characters of a-z, 0-9, '.' and '-', starting and "
        "ending with a letter or digit)"));
  }
  std::string_view prefix = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  if (!prefix.empty()) {
    for (absl::string_view seg :
         absl::StrSplit(absl::string_view(prefix.data(), prefix.size()), '/')) {
      if (seg.empty() || seg == "." || seg == ".." ||
          seg.find_first_of(absl::string_view("\0\r\n", 3)) != absl::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("repository '", shown,
                         "': the key prefix has an empty, '.' or '..' segment or a control "
                         "character; use s3://BUCKET/a/b"));
      }
    }
  }
  out.prefix = S(prefix);
  return out;
}

absl::Status CheckRepositoryLocation(std::string_view location) {
  return ParseRepositoryLocation(location).status();
}

}  // namespace arca
