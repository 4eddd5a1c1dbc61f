#include "libs/pipeline/hardlink_check.h"

#include "absl/hash/hash.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace arca {
namespace {

const char* TypeName(v1::EntryType type) {
  switch (type) {
    case v1::ENTRY_TYPE_DIRECTORY:
      return "directory";
    case v1::ENTRY_TYPE_SYMLINK:
      return "symlink";
    case v1::ENTRY_TYPE_HARDLINK:
      return "hardlink";
    case v1::ENTRY_TYPE_FIFO:
      return "fifo";
    case v1::ENTRY_TYPE_CHAR_DEVICE:
      return "character device";
    case v1::ENTRY_TYPE_BLOCK_DEVICE:
      return "block device";
    default:
      return "non-regular entry";
  }
}

}  // namespace

std::optional<std::string> HardlinkCheck::Add(const v1::Entry& entry) {
  std::optional<std::string> problem;
  if (entry.type() == v1::ENTRY_TYPE_HARDLINK) {
    auto it = types_.find(absl::HashOf(entry.hardlink_target()));
    const std::string prefix =
        absl::StrCat("hardlink '", absl::CHexEscape(entry.path()), "' points at '",
                     absl::CHexEscape(entry.hardlink_target()), "', which ");
    if (it == types_.end()) {
      problem = absl::StrCat(prefix, "is missing from the snapshot");
    } else if (it->second != v1::ENTRY_TYPE_REGULAR) {
      problem = absl::StrCat(prefix, "is a ", TypeName(it->second), ", not a regular file");
    }
  }
  types_[absl::HashOf(entry.path())] = entry.type();
  return problem;
}

}  // namespace arca
