#include "libs/pipeline/snapshot_find.h"

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libs/base/status_macros.h"
#include "libs/fs/exclude.h"
#include "libs/pipeline/restore_selection.h"
#include "libs/pipeline/snapshot_reader.h"

namespace arca {
namespace {

absl::Status FindInOne(
    Repository& repo, const std::string& snapshot, const fs::PathMatcher& matcher,
    const std::function<absl::Status(const std::string&, const v1::Entry&)>& match) {
  ASSIGN_OR_RETURN(std::unique_ptr<SnapshotReader> reader, SnapshotReader::Open(repo, snapshot));
  v1::Entry e;
  while (true) {
    ASSIGN_OR_RETURN(bool more, reader->Next(&e));
    if (!more) return absl::OkStatus();
    if (e.path().empty() || !IncludedByPatterns(matcher, e)) continue;
    RETURN_IF_ERROR(match(reader->id(), e));
  }
}

}  // namespace

absl::Status FindInSnapshots(
    Repository& repo, const FindOptions& options,
    const std::function<absl::Status(const std::string& snapshot, const v1::Entry& entry)>& match) {
  if (options.patterns.empty()) {
    return absl::InvalidArgumentError("arca find needs at least one PATTERN");
  }
  ASSIGN_OR_RETURN(fs::PathMatcher matcher, fs::PathMatcher::Create(options.patterns));
  if (!options.snapshot.empty()) return FindInOne(repo, options.snapshot, matcher, match);
  ASSIGN_OR_RETURN(std::vector<v1::Manifest> list, repo.ListSnapshots(options.group));
  std::reverse(list.begin(), list.end());  // newest first
  for (const v1::Manifest& m : list) RETURN_IF_ERROR(FindInOne(repo, m.id(), matcher, match));
  return absl::OkStatus();
}

namespace {

// `path` as stored: no leading or trailing '/', "" for the root.
absl::StatusOr<std::string> StoredPath(const std::string& path) {
  absl::string_view p = path;
  while (!p.empty() && p.front() == '/') p.remove_prefix(1);
  while (!p.empty() && p.back() == '/') p.remove_suffix(1);
  if (p.empty() || p == ".") return std::string();
  for (absl::string_view c : absl::StrSplit(p, '/')) {
    if (c.empty() || c == "." || c == "..") {
      return absl::InvalidArgumentError(absl::StrCat(
          "arca ls: path '", path,
          "' has an empty, '.' or '..' component; give it as `arca ls` prints it"));
    }
  }
  return std::string(p);
}

// Where `entry_path` lies relative to directory `dir` ("" is the root).
enum class Place { kOutside, kSelf, kChild, kBelow };
Place PlaceOf(const std::string& dir, const std::string& entry_path) {
  if (entry_path == dir) return Place::kSelf;
  absl::string_view rest;
  if (dir.empty()) {
    rest = entry_path;
  } else {
    if (entry_path.size() <= dir.size() + 1 || entry_path[dir.size()] != '/' ||
        entry_path.compare(0, dir.size(), dir) != 0) {
      return Place::kOutside;
    }
    rest = absl::string_view(entry_path).substr(dir.size() + 1);
  }
  return rest.find('/') == absl::string_view::npos ? Place::kChild : Place::kBelow;
}

}  // namespace

absl::Status ListSnapshotEntries(Repository& repo, const std::string& snapshot,
                                 const ListOptions& options,
                                 const std::function<absl::Status(const v1::Entry& entry)>& fn) {
  ASSIGN_OR_RETURN(std::string dir, StoredPath(options.path));
  ASSIGN_OR_RETURN(fs::PathMatcher matcher, fs::PathMatcher::Create(options.includes));
  ASSIGN_OR_RETURN(std::unique_ptr<SnapshotReader> reader, SnapshotReader::Open(repo, snapshot));
  // No PATH at all: everything; PATH "/" or ".": the root's children.
  const bool recursive = options.recursive || options.path.empty();
  bool found = false;
  v1::Entry e;
  while (true) {
    ASSIGN_OR_RETURN(bool more, reader->Next(&e));
    if (!more) break;
    const Place place = PlaceOf(dir, e.path());
    if (place == Place::kOutside) {
      if (found) break;  // past the subtree: nothing more is in it
      continue;
    }
    found = true;
    if (place == Place::kBelow && !recursive) continue;
    if (!matcher.empty() && (e.path().empty() || !IncludedByPatterns(matcher, e))) continue;
    RETURN_IF_ERROR(fn(e));
  }
  if (!found) {
    return absl::NotFoundError(absl::StrCat("snapshot ", reader->id(), " has no '", dir,
                                            "': see `arca ls ", reader->id(), "` for its paths"));
  }
  return absl::OkStatus();
}

}  // namespace arca
