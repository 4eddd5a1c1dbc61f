// WithPhase / PhaseOf / WithMessage, and the exit-code policy (ExitCodeOf,
// FailedPhaseOf): one row per rule of the table in phase_status.h.
#include "libs/base/phase_status.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/base/exit_codes.h"

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

struct PolicyCase {
  int rule;  // the row of the table in phase_status.h
  absl::Status status;
  v1::Phase transport_phase;
  v1::Phase reported;
  ExitCode exit_code;
};

absl::Status Phased(absl::Status status, v1::Phase phase) {
  return WithPhase(std::move(status), phase);
}

std::vector<PolicyCase> PolicyCases() {
  using absl::StatusCode;
  constexpr v1::Phase kNone = v1::PHASE_UNSPECIFIED;
  std::vector<PolicyCase> cases = {
      // 1: OK, whatever the transport.
      {1, absl::OkStatus(), kNone, kNone, ExitCode::kSuccess},
      {1, absl::OkStatus(), v1::PHASE_ARCHIVE, kNone, ExitCode::kSuccess},
      // 2: our own cancellation (in-process), with or without a phase.
      {2, absl::CancelledError("stop"), kNone, kNone, ExitCode::kCancelled},
      {2, Phased(absl::CancelledError("stop"), v1::PHASE_UPLOAD), kNone, v1::PHASE_UPLOAD,
       ExitCode::kCancelled},
      {2, Phased(absl::CancelledError("stop"), v1::PHASE_SETUP), kNone, v1::PHASE_SETUP,
       ExitCode::kCancelled},
      // 3: corruption without a phase.
      {3, absl::DataLossError("bad chunk"), kNone, kNone, ExitCode::kVerification},
      {3, absl::DataLossError("bad chunk"), v1::PHASE_RESTORE, kNone, ExitCode::kVerification},
      // 4: bad input / unknown snapshot without a phase.
      {4, absl::InvalidArgumentError("bad"), kNone, v1::PHASE_SETUP, ExitCode::kUsage},
      {4, absl::NotFoundError("no snapshot"), v1::PHASE_UPLOAD, v1::PHASE_SETUP, ExitCode::kUsage},
      // 6: any other code without a phase.
      {6, absl::FailedPreconditionError("x"), kNone, kNone, ExitCode::kInternal},
      {6, absl::ResourceExhaustedError("x"), v1::PHASE_ARCHIVE, kNone, ExitCode::kInternal},
      {6, absl::PermissionDeniedError("x"), v1::PHASE_ARCHIVE, kNone, ExitCode::kInternal},
      {6, absl::OutOfRangeError("x"), kNone, kNone, ExitCode::kInternal},
      // 7-10: setup failures.
      {7, Phased(absl::InvalidArgumentError("x"), v1::PHASE_SETUP), kNone, v1::PHASE_SETUP,
       ExitCode::kUsage},
      {7, Phased(absl::NotFoundError("x"), v1::PHASE_SETUP), v1::PHASE_ARCHIVE, v1::PHASE_SETUP,
       ExitCode::kUsage},
      {8, Phased(absl::FailedPreconditionError("locked"), v1::PHASE_SETUP), kNone, v1::PHASE_SETUP,
       ExitCode::kRepository},
      {8, Phased(absl::FailedPreconditionError("locked"), v1::PHASE_SETUP), v1::PHASE_ARCHIVE,
       v1::PHASE_SETUP, ExitCode::kRepository},
      {9, Phased(absl::ResourceExhaustedError("full"), v1::PHASE_SETUP), kNone, v1::PHASE_SETUP,
       ExitCode::kNoSpace},
      {9, Phased(absl::ResourceExhaustedError("full"), v1::PHASE_SETUP), v1::PHASE_ARCHIVE,
       v1::PHASE_SETUP, ExitCode::kNoSpace},
      {10, Phased(absl::InternalError("x"), v1::PHASE_SETUP), kNone, v1::PHASE_SETUP,
       ExitCode::kInternal},
      {10, Phased(absl::UnavailableError("x"), v1::PHASE_SETUP), v1::PHASE_ARCHIVE, v1::PHASE_SETUP,
       ExitCode::kInternal},
      {10, Phased(absl::CancelledError("x"), v1::PHASE_SETUP), v1::PHASE_ARCHIVE, v1::PHASE_SETUP,
       ExitCode::kInternal},
      // 11: corruption met while reading the repository.
      {11, Phased(absl::DataLossError("blob"), v1::PHASE_RESTORE), kNone, v1::PHASE_RESTORE,
       ExitCode::kVerification},
      {11, Phased(absl::DataLossError("blob"), v1::PHASE_VERIFICATION), v1::PHASE_UPLOAD,
       v1::PHASE_VERIFICATION, ExitCode::kVerification},
      // 12: the attached phase's code, whatever the code...
      {12, Phased(absl::DataLossError("x"), v1::PHASE_COLLECTION), kNone, v1::PHASE_COLLECTION,
       ExitCode::kCollection},
      {12, Phased(absl::InternalError("disk"), v1::PHASE_RESTORE), v1::PHASE_RESTORE,
       v1::PHASE_RESTORE, ExitCode::kRestore},
      {12, Phased(absl::ResourceExhaustedError("disk"), v1::PHASE_COMMIT), v1::PHASE_ARCHIVE,
       v1::PHASE_COMMIT, ExitCode::kUpload},
      {12, Phased(absl::InvalidArgumentError("x"), v1::PHASE_COMPRESSION), kNone,
       v1::PHASE_COMPRESSION, ExitCode::kCompression},
      {12, Phased(absl::UnavailableError("gone"), v1::PHASE_COLLECTION), v1::PHASE_ARCHIVE,
       v1::PHASE_COLLECTION, ExitCode::kCollection},
      {12, Phased(absl::InternalError("x"), v1::PHASE_VERIFICATION), kNone, v1::PHASE_VERIFICATION,
       ExitCode::kVerification},
      // ...a stage's own CANCELLED (seen with a transport phase) included.
      {12, Phased(absl::CancelledError("cut"), v1::PHASE_UPLOAD), v1::PHASE_ARCHIVE,
       v1::PHASE_UPLOAD, ExitCode::kUpload},
  };
  // 5: transport failures without a phase: the called service's phase.
  const std::vector<std::pair<v1::Phase, ExitCode>> transports = {
      {v1::PHASE_ARCHIVE, ExitCode::kArchive},
      {v1::PHASE_RESTORE, ExitCode::kRestore},
      {v1::PHASE_UPLOAD, ExitCode::kUpload},
      {kNone, ExitCode::kInternal},
  };
  for (StatusCode code :
       {StatusCode::kUnavailable, StatusCode::kDeadlineExceeded, StatusCode::kCancelled,
        StatusCode::kUnknown, StatusCode::kInternal, StatusCode::kAborted}) {
    for (const auto& [transport, exit_code] : transports) {
      // Without a transport phase a CANCELLED is ours: rule 2.
      if (code == StatusCode::kCancelled && transport == kNone) continue;
      cases.push_back({5, absl::Status(code, "transport"), transport, transport, exit_code});
    }
  }
  return cases;
}

TEST(ExitCodePolicy, EveryRuleOfTheTable) {
  std::vector<bool> covered(13, false);
  for (const PolicyCase& c : PolicyCases()) {
    const std::string where = absl::StrCat("rule ", c.rule, ": ", c.status.ToString(),
                                           ", transport phase ", PhaseName(c.transport_phase));
    EXPECT_EQ(ExitCodeOf(c.status, c.transport_phase), c.exit_code) << where;
    EXPECT_EQ(FailedPhaseOf(c.status, c.transport_phase), c.reported) << where;
    covered[c.rule] = true;
  }
  for (int rule = 1; rule <= 12; ++rule) EXPECT_TRUE(covered[rule]) << "rule " << rule;
}

TEST(ExitCodePolicy, DefaultIsInProcess) {
  // The embedded CLI passes no transport phase: the same as PHASE_UNSPECIFIED.
  const absl::Status cut = absl::UnavailableError("x");
  EXPECT_EQ(ExitCodeOf(cut), ExitCode::kInternal);
  EXPECT_EQ(FailedPhaseOf(cut), v1::PHASE_UNSPECIFIED);
  EXPECT_EQ(ExitCodeOf(absl::CancelledError("x")), ExitCode::kCancelled);
  EXPECT_EQ(ExitCodeOf(WithPhase(absl::ResourceExhaustedError("x"), v1::PHASE_SETUP)),
            ExitCode::kNoSpace);
}

}  // namespace
}  // namespace arca
