#include "libs/base/phase_status.h"

#include <string>

#include "absl/strings/cord.h"

namespace arca {
namespace {
constexpr const char* kPhaseUrl = kPhasePayloadUrl;
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

namespace {

// One failure as the policy sees it (the table in phase_status.h).
struct Classified {
  v1::Phase phase;
  ExitCode exit_code;
};

Classified Classify(const absl::Status& status, v1::Phase transport_phase) {
  const absl::StatusCode code = status.code();
  const v1::Phase phase = PhaseOf(status);
  if (status.ok()) return {v1::PHASE_UNSPECIFIED, ExitCode::kSuccess};  // 1
  if (code == absl::StatusCode::kCancelled && transport_phase == v1::PHASE_UNSPECIFIED) {
    return {phase, ExitCode::kCancelled};  // 2
  }
  if (phase == v1::PHASE_UNSPECIFIED) {
    switch (code) {
      case absl::StatusCode::kDataLoss:
        return {v1::PHASE_UNSPECIFIED, ExitCode::kVerification};  // 3
      case absl::StatusCode::kInvalidArgument:
      case absl::StatusCode::kNotFound:
        return {v1::PHASE_SETUP, ExitCode::kUsage};  // 4
      case absl::StatusCode::kUnavailable:
      case absl::StatusCode::kDeadlineExceeded:
      case absl::StatusCode::kCancelled:  // the service cut the call (shutdown)
      case absl::StatusCode::kUnknown:
      case absl::StatusCode::kInternal:
      case absl::StatusCode::kAborted:
        return {transport_phase, ExitCodeForPhase(transport_phase)};  // 5
      default:
        return {v1::PHASE_UNSPECIFIED, ExitCode::kInternal};  // 6
    }
  }
  if (phase == v1::PHASE_SETUP) {
    switch (code) {
      case absl::StatusCode::kInvalidArgument:
      case absl::StatusCode::kNotFound:
        return {phase, ExitCode::kUsage};  // 7
      case absl::StatusCode::kFailedPrecondition:
        return {phase, ExitCode::kRepository};  // 8
      case absl::StatusCode::kResourceExhausted:
        return {phase, ExitCode::kNoSpace};  // 9
      default:
        return {phase, ExitCode::kInternal};  // 10
    }
  }
  if (code == absl::StatusCode::kDataLoss &&
      (phase == v1::PHASE_RESTORE || phase == v1::PHASE_VERIFICATION)) {
    return {phase, ExitCode::kVerification};  // 11
  }
  return {phase, ExitCodeForPhase(phase)};  // 12
}

}  // namespace

ExitCode ExitCodeOf(const absl::Status& status, v1::Phase transport_phase) {
  return Classify(status, transport_phase).exit_code;
}

v1::Phase FailedPhaseOf(const absl::Status& status, v1::Phase transport_phase) {
  return Classify(status, transport_phase).phase;
}

}  // namespace arca
