#include "libs/base/exit_codes.h"

namespace arca {

ExitCode ExitCodeForPhase(v1::Phase phase) {
  switch (phase) {
    case v1::PHASE_COLLECTION:
      return ExitCode::kCollection;
    case v1::PHASE_ARCHIVE:
      return ExitCode::kArchive;
    case v1::PHASE_COMPRESSION:
      return ExitCode::kCompression;
    case v1::PHASE_UPLOAD:
    case v1::PHASE_COMMIT:
      return ExitCode::kUpload;
    case v1::PHASE_VERIFICATION:
      return ExitCode::kVerification;
    case v1::PHASE_RESTORE:
      return ExitCode::kRestore;
    case v1::PHASE_SETUP:
    case v1::PHASE_UNSPECIFIED:
    default:
      return ExitCode::kInternal;
  }
}

v1::Phase PhaseForExitCode(int exit_code) {
  switch (static_cast<ExitCode>(exit_code)) {
    case ExitCode::kUsage:
    case ExitCode::kRepository:
    case ExitCode::kNoSpace:
      return v1::PHASE_SETUP;
    case ExitCode::kVerification:
      return v1::PHASE_VERIFICATION;
    case ExitCode::kCollection:
      return v1::PHASE_COLLECTION;
    case ExitCode::kArchive:
      return v1::PHASE_ARCHIVE;
    case ExitCode::kCompression:
      return v1::PHASE_COMPRESSION;
    case ExitCode::kUpload:
      return v1::PHASE_UPLOAD;
    case ExitCode::kRestore:
      return v1::PHASE_RESTORE;
    default:
      return v1::PHASE_UNSPECIFIED;
  }
}

const char* PhaseName(v1::Phase phase) {
  switch (phase) {
    case v1::PHASE_SETUP:
      return "setup";
    case v1::PHASE_COLLECTION:
      return "collection";
    case v1::PHASE_ARCHIVE:
      return "archive";
    case v1::PHASE_COMPRESSION:
      return "compression";
    case v1::PHASE_UPLOAD:
      return "upload";
    case v1::PHASE_COMMIT:
      return "commit";
    case v1::PHASE_VERIFICATION:
      return "verification";
    case v1::PHASE_RESTORE:
      return "restore";
    default:
      return "unspecified";
  }
}

}  // namespace arca
