#include "libs/pipeline/source_estimate.h"

#include <sys/stat.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/base/status_macros.h"

namespace arca {

absl::StatusOr<uint64_t> EstimateSourceBytes(fs::FileSystem* fs, const std::string& root,
                                             const fs::PathMatcher* excludes,
                                             bool one_file_system) {
  ASSIGN_OR_RETURN(fs::StatInfo root_st, fs->Lstat(root));
  uint64_t total = 0;
  // Iterative depth-first walk: (relative path, absolute path).
  std::vector<std::pair<std::string, std::string>> stack = {{"", root}};
  while (!stack.empty()) {
    auto [rel, abs] = std::move(stack.back());
    stack.pop_back();
    absl::StatusOr<std::vector<std::string>> names = fs->ListDirectory(abs);
    if (!names.ok()) continue;  // the walk itself reports it
    for (const std::string& name : *names) {
      std::string child_rel = rel.empty() ? name : absl::StrCat(rel, "/", name);
      std::string child_abs = absl::StrCat(abs, "/", name);
      absl::StatusOr<fs::StatInfo> st = fs->Lstat(child_abs);
      if (!st.ok()) continue;
      bool is_dir = S_ISDIR(st->mode);
      if (excludes && excludes->Matches(child_rel, is_dir)) continue;
      if (S_ISREG(st->mode)) {
        total += std::min<uint64_t>(st->size, st->blocks * 512);
      } else if (is_dir && (!one_file_system || st->dev == root_st.dev)) {
        stack.emplace_back(std::move(child_rel), std::move(child_abs));
      }
    }
  }
  return total;
}

}  // namespace arca
