#include "libs/base/exit_codes.h"

#include "gtest/gtest.h"
#include "libs/base/status_macros.h"

namespace arca {
namespace {

TEST(ExitCodes, PhaseMapsToDesignCode) {
  EXPECT_EQ(ExitCodeForPhase(v1::PHASE_COLLECTION), ExitCode::kCollection);
  EXPECT_EQ(ExitCodeForPhase(v1::PHASE_ARCHIVE), ExitCode::kArchive);
  EXPECT_EQ(ExitCodeForPhase(v1::PHASE_COMPRESSION), ExitCode::kCompression);
  EXPECT_EQ(ExitCodeForPhase(v1::PHASE_UPLOAD), ExitCode::kUpload);
  EXPECT_EQ(ExitCodeForPhase(v1::PHASE_VERIFICATION), ExitCode::kVerification);
  EXPECT_EQ(ExitCodeForPhase(v1::PHASE_RESTORE), ExitCode::kRestore);
  EXPECT_EQ(ExitCodeForPhase(v1::PHASE_COMMIT), ExitCode::kUpload);
  EXPECT_EQ(ExitCodeForPhase(v1::PHASE_SETUP), ExitCode::kInternal);
  EXPECT_EQ(ExitCodeForPhase(v1::PHASE_UNSPECIFIED), ExitCode::kInternal);
  EXPECT_EQ(static_cast<int>(ExitCode::kCollection), v1::EXIT_CODE_COLLECTION);
}

TEST(ExitCodes, PhaseForExitCodeInvertsExitCodeForPhase) {
  for (v1::Phase phase : {v1::PHASE_COLLECTION, v1::PHASE_ARCHIVE, v1::PHASE_COMPRESSION,
                          v1::PHASE_UPLOAD, v1::PHASE_VERIFICATION, v1::PHASE_RESTORE}) {
    EXPECT_EQ(PhaseForExitCode(static_cast<int>(ExitCodeForPhase(phase))), phase)
        << PhaseName(phase);
  }
  EXPECT_EQ(PhaseForExitCode(static_cast<int>(ExitCodeForPhase(v1::PHASE_COMMIT))),
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
