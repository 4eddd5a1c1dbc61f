#include "libs/base/exit_codes.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/base/phase_status.h"
#include "libs/base/status_macros.h"

namespace arca {
namespace {

TEST(ExitCodes, PhaseMapsToDesignCode) {
  absl::Status failed = absl::UnavailableError("x");
  EXPECT_EQ(ExitCodeForPhase(v1::PHASE_COLLECTION, failed), ExitCode::kCollection);
  EXPECT_EQ(ExitCodeForPhase(v1::PHASE_ARCHIVE, failed), ExitCode::kArchive);
  EXPECT_EQ(ExitCodeForPhase(v1::PHASE_COMPRESSION, failed), ExitCode::kCompression);
  EXPECT_EQ(ExitCodeForPhase(v1::PHASE_UPLOAD, failed), ExitCode::kUpload);
  EXPECT_EQ(ExitCodeForPhase(v1::PHASE_VERIFICATION, failed), ExitCode::kVerification);
  EXPECT_EQ(ExitCodeForPhase(v1::PHASE_RESTORE, failed), ExitCode::kRestore);
  EXPECT_EQ(static_cast<int>(ExitCode::kCollection), v1::EXIT_CODE_COLLECTION);
}

TEST(ExitCodes, CancellationWinsOverPhase) {
  EXPECT_EQ(ExitCodeForPhase(v1::PHASE_UPLOAD, absl::CancelledError("stop")), ExitCode::kCancelled);
}

TEST(ExitCodes, PhaseForExitCodeInvertsExitCodeForPhase) {
  const absl::Status failed = absl::UnavailableError("x");
  for (v1::Phase phase : {v1::PHASE_COLLECTION, v1::PHASE_ARCHIVE, v1::PHASE_COMPRESSION,
                          v1::PHASE_UPLOAD, v1::PHASE_VERIFICATION, v1::PHASE_RESTORE}) {
    EXPECT_EQ(PhaseForExitCode(static_cast<int>(ExitCodeForPhase(phase, failed))), phase)
        << PhaseName(phase);
  }
  EXPECT_EQ(PhaseForExitCode(static_cast<int>(ExitCodeForPhase(v1::PHASE_COMMIT, failed))),
            v1::PHASE_UPLOAD);
  for (int setup : {2, 4, 5}) EXPECT_EQ(PhaseForExitCode(setup), v1::PHASE_SETUP) << setup;
  for (int none : {0, 1, 3, 6, 130, -1}) {
    EXPECT_EQ(PhaseForExitCode(none), v1::PHASE_UNSPECIFIED) << none;
  }
}

absl::StatusOr<int> Half(int x) {
  if (x % 2) return absl::InvalidArgumentError("odd");
  return x / 2;
}

absl::Status UseMacros(int x, int* out) {
  ASSIGN_OR_RETURN(int h, Half(x));
  RETURN_IF_ERROR(h > 10 ? absl::OutOfRangeError("big") : absl::OkStatus());
  *out = h;
  return absl::OkStatus();
}

TEST(StatusMacros, PropagateErrorsAndValues) {
  int out = 0;
  EXPECT_TRUE(UseMacros(4, &out).ok());
  EXPECT_EQ(out, 2);
  EXPECT_EQ(UseMacros(3, &out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(UseMacros(40, &out).code(), absl::StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace arca

namespace arca {
namespace {

TEST(PhaseStatus, InnermostPhaseWinsAndMapsToExitCode) {
  absl::Status s = WithPhase(absl::NotFoundError("source /x does not exist"), v1::PHASE_COLLECTION);
  s = WithPhase(s, v1::PHASE_ARCHIVE);  // outer layers do not override
  EXPECT_EQ(PhaseOf(s), v1::PHASE_COLLECTION);
  EXPECT_EQ(ExitCodeOf(s), ExitCode::kCollection);
  EXPECT_EQ(s.message(), "source /x does not exist");
  EXPECT_EQ(PhaseOf(absl::InternalError("bug")), v1::PHASE_UNSPECIFIED);
  EXPECT_EQ(ExitCodeOf(absl::InternalError("bug")), ExitCode::kInternal);
  EXPECT_EQ(ExitCodeOf(absl::OkStatus()), ExitCode::kSuccess);
  EXPECT_TRUE(WithPhase(absl::OkStatus(), v1::PHASE_UPLOAD).ok());
}

TEST(PhaseStatus, WithMessageKeepsCodeAndPhase) {
  absl::Status inner = WithPhase(absl::DataLossError("chunk x: bad"), v1::PHASE_VERIFICATION);
  absl::Status outer = WithMessage(inner, absl::StrCat("stream offset 7: ", inner.message()));
  EXPECT_EQ(outer.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(outer.message(), "stream offset 7: chunk x: bad");
  EXPECT_EQ(PhaseOf(outer), v1::PHASE_VERIFICATION);
  EXPECT_EQ(ExitCodeOf(outer), ExitCode::kVerification);
  EXPECT_EQ(PhaseOf(WithMessage(absl::InternalError("a"), "b")), v1::PHASE_UNSPECIFIED);
  EXPECT_TRUE(WithMessage(absl::OkStatus(), "ignored").ok());
}

}  // namespace
}  // namespace arca
