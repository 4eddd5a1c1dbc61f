#include "libs/store/repository_location.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace arca {

absl::Status CheckRepositoryLocation(std::string_view location) {
  if (location.empty()) {
    return absl::InvalidArgumentError("the repository location is empty: give a directory");
  }
  const size_t sep = location.find("://");
  if (sep == std::string_view::npos || sep == 0) return absl::OkStatus();
  const std::string_view scheme = location.substr(0, sep);
  if (!absl::ascii_isalpha(static_cast<unsigned char>(scheme[0]))) return absl::OkStatus();
  for (char c : scheme) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') {
      return absl::OkStatus();  // not a scheme: a directory name with "://" in it
    }
  }
  const std::string shown(location.substr(0, 200));
  if (absl::AsciiStrToLower(std::string(scheme)) == "file") {
    return absl::InvalidArgumentError(
        absl::StrCat("repository '", shown, "': give the directory as a path (",
                     std::string(location.substr(sep + 3)), "), not as a file:// URL"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "repository '", shown, "': unknown scheme '", std::string(scheme),
      "://'; this arca knows local directories only (a path such as /srv/arca/repo); object "
      "storage (s3://) is not supported yet"));
}

}  // namespace arca
