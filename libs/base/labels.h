// Labels (map<string,string>) on jobs and snapshots, in Kubernetes label
// syntax, so that a label a Kubernetes user writes on a CronJob can be
// passed through unchanged. Pure functions.
#ifndef ARCA_LIBS_BASE_LABELS_H_
#define ARCA_LIBS_BASE_LABELS_H_

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace arca {

inline constexpr size_t kMaxLabels = 64;

// A label key: [PREFIX/]NAME. NAME is 1..63 characters of [A-Za-z0-9._-]
// that starts and ends with [A-Za-z0-9]; PREFIX, when present, is a DNS
// subdomain of at most 253 characters (lower-case [a-z0-9-] labels of 1..63
// joined by "."). OK or InvalidArgument naming `field` and the key.
absl::Status CheckLabelKey(std::string_view key, std::string_view field);

// A label value: empty, or 1..63 characters as a key's NAME. OK or
// InvalidArgument naming `field`, the key and the value.
absl::Status CheckLabelValue(std::string_view key, std::string_view value, std::string_view field);

// Every entry of `labels` (anything iterable as pairs of strings) and their
// count (at most kMaxLabels).
template <typename Map>
absl::Status CheckLabels(const Map& labels, std::string_view field) {
  if (labels.size() > kMaxLabels) {
    return absl::InvalidArgumentError(std::string(field) + ": more than 64 labels");
  }
  for (const auto& [key, value] : labels) {
    if (absl::Status st = CheckLabelKey(key, field); !st.ok()) return st;
    if (absl::Status st = CheckLabelValue(key, value, field); !st.ok()) return st;
  }
  return absl::OkStatus();
}

// Parses repeated KEY=VALUE flag values (`--label`) into labels and checks
// them (CheckLabels naming `flag`). InvalidArgument naming `flag` and the
// item for one without '=' or a key given twice with different values.
absl::StatusOr<std::map<std::string, std::string>> ParseLabelFlags(
    const std::vector<std::string>& items, std::string_view flag);

// True when `have` holds every key of `want` with the same value (a
// selector: an empty `want` matches everything). Both iterable as pairs of
// strings and `have` with find(key) (std::map, protobuf Map).
template <typename Have, typename Want>
bool HasLabels(const Have& have, const Want& want) {
  for (const auto& [key, value] : want) {
    auto it = have.find(key);
    if (it == have.end() || it->second != value) return false;
  }
  return true;
}

}  // namespace arca

#endif  // ARCA_LIBS_BASE_LABELS_H_
