#include "libs/rpc/status_convert.h"

#include <string>

#include "absl/strings/cord.h"
#include "gtest/gtest.h"
#include "libs/base/phase_status.h"

namespace arca::rpc {
namespace {

TEST(StatusConvertTest, OkBothWays) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

TEST(StatusConvertTest, EveryCodeMapsToTheSameNumber) {
  for (int code = 1; code <= 16; ++code) {
    absl::Status st(static_cast<absl::StatusCode>(code), "boom");
    grpc::Status g = ToGrpcStatus(st);
    EXPECT_EQ(static_cast<int>(g.error_code()), code);
    EXPECT_EQ(g.error_message(), "boom");
    absl::Status back = FromGrpcStatus(g);
    EXPECT_EQ(back.code(), st.code());
    EXPECT_EQ(back.message(), "boom");
  }
}

TEST(StatusConvertTest, PhaseSurvivesTheRoundTrip) {
  absl::Status st = WithPhase(absl::ResourceExhaustedError("no space in /repo"), v1::PHASE_UPLOAD);
  grpc::Status g = ToGrpcStatus(st);
  EXPECT_FALSE(g.error_details().empty());
  absl::Status back = FromGrpcStatus(g);
  EXPECT_EQ(back.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(back.message(), "no space in /repo");
  EXPECT_EQ(PhaseOf(back), v1::PHASE_UPLOAD);
  EXPECT_EQ(ExitCodeOf(back), ExitCode::kUpload);
}

TEST(StatusConvertTest, PhaseTravelsAsErrorInfo) {
  const std::string details =
      EncodeStatusDetails(WithPhase(absl::DataLossError("chunk x is corrupt"), v1::PHASE_UPLOAD));
  // A generic client finds a google.rpc.ErrorInfo with the phase's name as
  // the reason, the arca domain and the exit code (12: upload).
  EXPECT_NE(details.find("type.googleapis.com/google.rpc.ErrorInfo"), std::string::npos);
  EXPECT_NE(details.find("PHASE_UPLOAD"), std::string::npos);
  EXPECT_NE(details.find("arca.dev"), std::string::npos);
  EXPECT_NE(details.find("exit_code"), std::string::npos);
  EXPECT_NE(details.find("12"), std::string::npos);
  EXPECT_EQ(details.find("type.arca.dev/arca.v1.Phase"), std::string::npos);
}

TEST(StatusConvertTest, EarlierPhaseFormIsStillRead) {
  // What versions before the ErrorInfo wrote: the phase payload as an Any
  // (URL kPhasePayloadUrl, value the number). The encoder now turns that URL
  // into an ErrorInfo, so encode it under another URL of the same length
  // and patch the bytes.
  const std::string to = kPhasePayloadUrl;
  absl::Status carrier = absl::InternalError("boom");
  const std::string fake = std::string(to).replace(0, 4, "TYPE");
  carrier.SetPayload(fake, absl::Cord(std::to_string(static_cast<int>(v1::PHASE_COMPRESSION))));
  std::string bytes = EncodeStatusDetails(carrier);
  const size_t at = bytes.find(fake);
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, fake.size(), to);
  absl::Status back = FromGrpcStatus(grpc::Status(grpc::StatusCode::INTERNAL, "boom", bytes));
  EXPECT_EQ(PhaseOf(back), v1::PHASE_COMPRESSION);
}

TEST(StatusConvertTest, ForeignErrorInfoIsIgnored) {
  // An ErrorInfo of another domain does not become a phase.
  const std::string ours =
      EncodeStatusDetails(WithPhase(absl::InternalError("m"), v1::PHASE_ARCHIVE));
  std::string foreign = ours;
  const size_t at = foreign.find("arca.dev");
  ASSERT_NE(at, std::string::npos);
  foreign.replace(at, 8, "evil.dev");
  absl::Status back = FromGrpcStatus(grpc::Status(grpc::StatusCode::INTERNAL, "m", foreign));
  EXPECT_EQ(back.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(PhaseOf(back), v1::PHASE_UNSPECIFIED);
}

TEST(StatusConvertTest, EveryPayloadIsCarried) {
  absl::Status st = absl::DataLossError("bad");
  st.SetPayload("type.example/one", absl::Cord("1"));
  st.SetPayload("type.example/two", absl::Cord(std::string("\0\xff", 2)));
  absl::Status back = FromGrpcStatus(ToGrpcStatus(st));
  EXPECT_EQ(back.GetPayload("type.example/one"), absl::Cord("1"));
  EXPECT_EQ(back.GetPayload("type.example/two"), absl::Cord(std::string("\0\xff", 2)));
}

TEST(StatusConvertTest, NoPayloadMeansNoDetails) {
  EXPECT_TRUE(ToGrpcStatus(absl::NotFoundError("x")).error_details().empty());
  EXPECT_EQ(PhaseOf(FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down"))),
            v1::PHASE_UNSPECIFIED);
}

TEST(StatusConvertTest, UnknownCodeBecomesUnknown) {
  absl::Status back = FromGrpcStatus(grpc::Status(static_cast<grpc::StatusCode>(20), "odd"));
  EXPECT_EQ(back.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(back.message(), "odd");
}

TEST(StatusConvertTest, GarbageDetailsKeepCodeAndMessage) {
  const std::string good =
      EncodeStatusDetails(WithPhase(absl::InternalError("m"), v1::PHASE_COMPRESSION));
  ASSERT_FALSE(good.empty());
  // Every truncation and a few corruptions: never a crash, code and message kept.
  for (size_t n = 0; n < good.size(); ++n) {
    for (std::string details : {good.substr(0, n), good.substr(0, n) + "\xff\xff\xff"}) {
      absl::Status back = FromGrpcStatus(grpc::Status(grpc::StatusCode::INTERNAL, "m", details));
      EXPECT_EQ(back.code(), absl::StatusCode::kInternal);
      EXPECT_EQ(back.message(), "m");
    }
  }
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    absl::Status back = FromGrpcStatus(grpc::Status(grpc::StatusCode::INTERNAL, "m", bad));
    EXPECT_EQ(back.code(), absl::StatusCode::kInternal);
  }
  absl::Status back =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::ABORTED, "x", std::string(300, '\x0a')));
  EXPECT_EQ(back.code(), absl::StatusCode::kAborted);
}

}  // namespace
}  // namespace arca::rpc
