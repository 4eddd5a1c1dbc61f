#include "libs/base/phase_status.h"

#include <string>

#include "absl/strings/cord.h"

namespace arca {
namespace {
constexpr char kPhaseUrl[] = "type.arca.dev/arca.v1.Phase";
}  // namespace

absl::Status WithPhase(absl::Status status, v1::Phase phase) {
  if (status.ok() || status.GetPayload(kPhaseUrl).has_value()) return status;
  status.SetPayload(kPhaseUrl, absl::Cord(std::to_string(static_cast<int>(phase))));
  return status;
}

absl::Status WithMessage(const absl::Status& status, absl::string_view message) {
  if (status.ok()) return status;
  absl::Status out(status.code(), message);
  status.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

v1::Phase PhaseOf(const absl::Status& status) {
  auto payload = status.GetPayload(kPhaseUrl);
  if (!payload.has_value()) return v1::PHASE_UNSPECIFIED;
  int value = 0;
  for (char c : std::string(*payload)) {
    if (c < '0' || c > '9') return v1::PHASE_UNSPECIFIED;
    value = value * 10 + (c - '0');
    if (value > 1000) return v1::PHASE_UNSPECIFIED;
  }
  return v1::Phase_IsValid(value) ? static_cast<v1::Phase>(value) : v1::PHASE_UNSPECIFIED;
}

ExitCode ExitCodeOf(const absl::Status& status) {
  if (status.ok()) return ExitCode::kSuccess;
  return ExitCodeForPhase(PhaseOf(status), status);
}

}  // namespace arca
