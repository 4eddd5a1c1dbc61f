#include "libs/store/snapshot_page.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/base/fnv1a.h"
#include "libs/base/labels.h"

namespace arca {
namespace {

// The request's group and label selector, so that a token only continues
// the listing it came from (AIP-158).
std::string TokenPrefix(const v1::ListSnapshotsRequest& request) {
  std::vector<std::pair<std::string, std::string>> labels(request.labels().begin(),
                                                          request.labels().end());
  std::sort(labels.begin(), labels.end());
  uint64_t h = kFnv1a64Offset;  // of the selector, each key and value ended by 0xff
  for (const auto& [k, v] : labels) {
    for (const std::string* part : {&k, &v}) h = Fnv1a64("\xff", Fnv1a64(*part, h));
  }
  return absl::StrCat("s1|", request.group().size(), ":", request.group(), "|", h, "|");
}

}  // namespace

absl::Status SelectSnapshotsByLabels(std::vector<v1::SnapshotInfo>& all,
                                     const v1::ListSnapshotsRequest& request) {
  if (request.labels().empty()) return absl::OkStatus();
  if (absl::Status st = CheckLabels(request.labels(), "labels"); !st.ok()) return st;
  std::erase_if(
      all, [&](const v1::SnapshotInfo& s) { return !HasLabels(s.labels(), request.labels()); });
  return absl::OkStatus();
}

absl::StatusOr<v1::ListSnapshotsResponse> PageOfSnapshots(std::vector<v1::SnapshotInfo> all,
                                                          const v1::ListSnapshotsRequest& request) {
  if (absl::Status st = SelectSnapshotsByLabels(all, request); !st.ok()) return st;
  if (request.page_size() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("page_size ", request.page_size(),
                                                   " is negative: use 0..", kMaxSnapshotPageSize));
  }
  std::string after;
  bool has_after = false;
  if (!request.page_token().empty()) {
    std::string raw;
    const std::string prefix = TokenPrefix(request);
    if (request.page_token().size() > 8192 ||
        !absl::WebSafeBase64Unescape(request.page_token(), &raw) ||
        !absl::StartsWith(raw, prefix)) {
      return absl::InvalidArgumentError(
          "page_token: not a next_page_token of ListSnapshots for this group and labels: pass "
          "it as returned, with the same group and labels");
    }
    after = raw.substr(prefix.size());
    has_after = true;
  }
  std::sort(all.begin(), all.end(),
            [](const v1::SnapshotInfo& a, const v1::SnapshotInfo& b) { return a.id() < b.id(); });
  const size_t limit =
      request.page_size() == 0
          ? all.size()
          : static_cast<size_t>(std::min(request.page_size(), kMaxSnapshotPageSize));
  v1::ListSnapshotsResponse response;
  auto it = has_after ? std::upper_bound(all.begin(), all.end(), after,
                                         [](const std::string& id, const v1::SnapshotInfo& s) {
                                           return id < s.id();
                                         })
                      : all.begin();
  for (; it != all.end(); ++it) {
    if (static_cast<size_t>(response.snapshots_size()) == limit) {
      response.set_next_page_token(absl::WebSafeBase64Escape(
          absl::StrCat(TokenPrefix(request), response.snapshots().rbegin()->id())));
      break;
    }
    *response.add_snapshots() = std::move(*it);
  }
  return response;
}

}  // namespace arca
