#include "tools/arca/inspect.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "libs/base/exit_codes.h"
#include "libs/pipeline/snapshot_cat.h"
#include "libs/pipeline/snapshot_diff.h"
#include "libs/pipeline/snapshot_find.h"
#include "tools/arca/output.h"

namespace arca::cli {
namespace {

// Not found and not a regular file are usage errors (exit 2, as for an
// unknown snapshot); damaged data is exit 8; anything else (stdout) 1.
int Fail(const absl::Status& status) {
  ExitCode code = ExitCode::kInternal;
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kInvalidArgument:
      code = ExitCode::kUsage;
      break;
    case absl::StatusCode::kDataLoss:
      code = ExitCode::kVerification;
      break;
    default:
      break;
  }
  std::cerr << "arca: " << status.message() << " (exit " << static_cast<int>(code) << ")\n";
  return static_cast<int>(code);
}

std::string Shown(const std::string& path) { return path.empty() ? "." : path; }

std::string JsonPaths(const std::vector<std::string>& paths) {
  std::string out;
  for (const std::string& p : paths) absl::StrAppend(&out, out.empty() ? "" : ",", JsonString(p));
  return absl::StrCat("[", out, "]");
}

}  // namespace

int CatFileToStdout(Repository& repo, const std::string& snapshot, const std::string& path) {
  std::cout.flush();
  absl::Status st = CatFile(repo, snapshot, path, [](absl::string_view data) {
    if (std::fwrite(data.data(), 1, data.size(), stdout) != data.size()) {
      return absl::UnavailableError(
          absl::StrCat("cannot write to standard output: ", std::strerror(errno)));
    }
    return absl::OkStatus();
  });
  if (st.ok() && std::fflush(stdout) != 0) {
    st = absl::UnavailableError(
        absl::StrCat("cannot write to standard output: ", std::strerror(errno)));
  }
  return st.ok() ? 0 : Fail(st);
}

int PrintSnapshotDiff(Repository& repo, const std::string& from, const std::string& to, bool json) {
  absl::StatusOr<SnapshotDiff> d = DiffSnapshots(repo, from, to);
  if (!d.ok()) return Fail(d.status());
  if (json) {
    std::string modified;
    for (const ModifiedEntry& m : d->modified) {
      absl::StrAppend(&modified, modified.empty() ? "" : ",", "{\"path\":", JsonString(m.path),
                      ",\"changes\":", JsonPaths(m.changes), "}");
    }
    std::cout << "{\"from\":" << JsonString(d->from_id) << ",\"to\":" << JsonString(d->to_id)
              << ",\"added\":" << JsonPaths(d->added) << ",\"removed\":" << JsonPaths(d->removed)
              << ",\"modified\":[" << modified << "],\"unchanged\":" << d->unchanged << "}\n";
    return 0;
  }
  // One list in archive order would interleave; added, removed, modified
  // each stay in archive order.
  for (const std::string& p : d->added) std::cout << "+ " << Shown(p) << "\n";
  for (const std::string& p : d->removed) std::cout << "- " << Shown(p) << "\n";
  for (const ModifiedEntry& m : d->modified) {
    std::cout << "M " << Shown(m.path) << " (" << absl::StrJoin(m.changes, ", ") << ")\n";
  }
  std::cerr << d->from_id << " -> " << d->to_id << ": " << d->added.size() << " added, "
            << d->removed.size() << " removed, " << d->modified.size() << " modified, "
            << d->unchanged << " unchanged\n";
  return 0;
}

int PrintFind(Repository& repo, const FindOptions& options, bool json) {
  // JSON is printed whole once every snapshot was read, so that an error
  // never leaves half a document on stdout; text lines stream.
  std::string matches;
  absl::Status st =
      FindInSnapshots(repo, options, [&](const std::string& snapshot, const v1::Entry& e) {
        if (json) {
          absl::StrAppend(
              &matches, matches.empty() ? "\n" : ",\n", "{\"snapshot\":", JsonString(snapshot),
              ",\"path\":", JsonString(e.path()), ",\"type\":\"", EntryTypeName(e.type()),
              "\",\"size\":", e.size(), ",\"mtime_unix_ns\":", e.mtime_ns(), "}");
        } else {
          std::cout << absl::StrFormat("%s  %-8s  %12d  %s  %s\n", snapshot,
                                       EntryTypeName(e.type()), e.size(),
                                       TimeString(e.mtime_ns()).substr(0, 19), e.path());
        }
        return absl::OkStatus();
      });
  if (!st.ok()) return Fail(st);
  if (json) std::cout << "{\"matches\":[" << matches << (matches.empty() ? "" : "\n") << "]}\n";
  return 0;
}

}  // namespace arca::cli
