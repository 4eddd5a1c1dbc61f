// The one place where absl::Status and grpc::Status are converted, in both
// directions, keeping what arca attaches to a status: the pipeline phase
// (libs/base/phase_status.h) and any other absl payload.
//
// Wire form: a failed status carries, in its error details (trailing metadata
// `grpc-status-details-bin`), a serialized google.rpc.Status {code, message,
// details} whose details hold one google.protobuf.Any per absl payload:
// - the phase (libs/base/phase_status.h) as a google.rpc.ErrorInfo
//   (type.googleapis.com/google.rpc.ErrorInfo), which generic gRPC clients
//   decode: reason = the Phase enum name ("PHASE_ARCHIVE"), domain =
//   "arca.dev", metadata {"phase": the same name, "exit_code": the exit code
//   ExitCodeOf gives the status, in decimal};
// - any other payload: type_url = the payload's URL, value = its bytes.
// Reading also accepts the form of earlier versions (the phase as an Any
// "type.arca.dev/arca.v1.Phase" whose value is its number in decimal).
// Codes map one to one (absl and gRPC use the same numbers).
//
// Thread-safety: pure functions.
#ifndef ARCA_LIBS_RPC_STATUS_CONVERT_H_
#define ARCA_LIBS_RPC_STATUS_CONVERT_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace arca::rpc {

// OK gives grpc::Status::OK. Otherwise the same code and message, and the
// payloads in the error details as described above.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The inverse. Error details that are not a valid google.rpc.Status (from a
// foreign server) are ignored: the code and message are kept, no payload is
// restored. A gRPC code outside 0..16 becomes kUnknown.
absl::Status FromGrpcStatus(const grpc::Status& status);

// The error-details bytes ToGrpcStatus writes for `status` (exposed for
// tests); "" for OK or a status without payloads.
std::string EncodeStatusDetails(const absl::Status& status);

}  // namespace arca::rpc

#endif  // ARCA_LIBS_RPC_STATUS_CONVERT_H_
