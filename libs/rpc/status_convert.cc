#include "libs/rpc/status_convert.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "google/protobuf/any.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"
#include "libs/base/phase_status.h"

namespace arca::rpc {
namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;
using google::protobuf::io::CodedOutputStream;
using google::protobuf::io::StringOutputStream;

// Field numbers of google.rpc.Status.
constexpr int kCodeField = 1;
constexpr int kMessageField = 2;
constexpr int kDetailsField = 3;

// google.rpc.ErrorInfo: reason = 1, domain = 2, metadata = 3 (map entries:
// key = 1, value = 2).
constexpr char kErrorInfoUrl[] = "type.googleapis.com/google.rpc.ErrorInfo";
constexpr char kErrorDomain[] = "arca.dev";

// The ErrorInfo of a status with a phase: reason = the phase's name,
// metadata phase (the same name) and exit_code (ExitCodeOf, decimal).
std::string EncodePhaseErrorInfo(const absl::Status& status, v1::Phase phase) {
  std::string out;
  StringOutputStream stream(&out);
  CodedOutputStream coded(&stream);
  const std::string name = v1::Phase_Name(phase).empty() ? std::to_string(static_cast<int>(phase))
                                                         : v1::Phase_Name(phase);
  WireFormatLite::WriteString(1, name, &coded);
  WireFormatLite::WriteString(2, kErrorDomain, &coded);
  auto entry = [&](const std::string& key, const std::string& value) {
    std::string bytes;
    {
      StringOutputStream entry_stream(&bytes);
      CodedOutputStream entry_coded(&entry_stream);
      WireFormatLite::WriteString(1, key, &entry_coded);
      WireFormatLite::WriteString(2, value, &entry_coded);
    }
    WireFormatLite::WriteBytes(3, bytes, &coded);
  };
  entry("exit_code", std::to_string(static_cast<int>(ExitCodeOf(status))));
  entry("phase", name);
  return out;
}

// The phase of an arca ErrorInfo (domain arca.dev, a known reason), or
// PHASE_UNSPECIFIED for anything else.
v1::Phase DecodePhaseErrorInfo(const std::string& bytes) {
  v1::Phase phase = v1::PHASE_UNSPECIFIED;
  std::string reason, domain;
  CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                      static_cast<int>(bytes.size()));
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) break;
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    if ((field == 1 || field == 2) &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      if (!WireFormatLite::ReadString(&in, field == 1 ? &reason : &domain)) {
        return v1::PHASE_UNSPECIFIED;
      }
      continue;
    }
    if (!WireFormatLite::SkipField(&in, tag)) return v1::PHASE_UNSPECIFIED;
  }
  if (domain != kErrorDomain || !v1::Phase_Parse(reason, &phase)) return v1::PHASE_UNSPECIFIED;
  return phase;
}

// Refuse absurd inputs from a peer (the details are at most the size of
// gRPC's metadata limit anyway).
constexpr size_t kMaxDetailsBytes = 1 << 20;

}  // namespace

std::string EncodeStatusDetails(const absl::Status& status) {
  if (status.ok()) return "";
  std::vector<google::protobuf::Any> details;
  status.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
    if (url == kPhasePayloadUrl) {
      google::protobuf::Any any;
      any.set_type_url(kErrorInfoUrl);
      any.set_value(EncodePhaseErrorInfo(status, PhaseOf(status)));
      details.push_back(std::move(any));
      return;
    }
    google::protobuf::Any any;
    any.set_type_url(std::string(url));
    any.set_value(std::string(payload));
    details.push_back(std::move(any));
  });
  if (details.empty()) return "";
  std::string out;
  {
    StringOutputStream stream(&out);
    CodedOutputStream coded(&stream);
    WireFormatLite::WriteInt32(kCodeField, static_cast<int32_t>(status.code()), &coded);
    const absl::string_view message = status.message();
    WireFormatLite::WriteBytes(kMessageField, std::string(message), &coded);
    for (const google::protobuf::Any& any : details) {
      WireFormatLite::WriteBytes(kDetailsField, any.SerializeAsString(), &coded);
    }
  }
  return out;
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()),
                      EncodeStatusDetails(status));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  const int code = static_cast<int>(status.error_code());
  const absl::StatusCode absl_code =
      (code >= 1 && code <= 16) ? static_cast<absl::StatusCode>(code) : absl::StatusCode::kUnknown;
  absl::Status out(absl_code, status.error_message());
  const std::string& details = status.error_details();
  if (details.empty() || details.size() > kMaxDetailsBytes) return out;

  // Parse google.rpc.Status; on any malformation keep only code + message.
  std::vector<std::pair<std::string, std::string>> payloads;
  CodedInputStream in(reinterpret_cast<const uint8_t*>(details.data()),
                      static_cast<int>(details.size()));
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) break;
    if (WireFormatLite::GetTagFieldNumber(tag) == kDetailsField &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t length = 0;
      std::string bytes;
      if (!in.ReadVarint32(&length) || !in.ReadString(&bytes, static_cast<int>(length))) {
        return out;
      }
      google::protobuf::Any any;
      if (!any.ParseFromString(bytes) || any.type_url().empty()) return out;
      if (any.type_url() == kErrorInfoUrl) {
        const v1::Phase phase = DecodePhaseErrorInfo(any.value());
        if (phase != v1::PHASE_UNSPECIFIED) {
          payloads.emplace_back(kPhasePayloadUrl, std::to_string(static_cast<int>(phase)));
        }
        continue;  // a foreign ErrorInfo carries nothing arca keeps
      }
      payloads.emplace_back(any.type_url(), any.value());
      continue;
    }
    if (!WireFormatLite::SkipField(&in, tag)) return out;
  }
  if (in.CurrentPosition() != static_cast<int>(details.size())) return out;
  for (auto& [url, value] : payloads) out.SetPayload(url, absl::Cord(std::move(value)));
  return out;
}

}  // namespace arca::rpc
