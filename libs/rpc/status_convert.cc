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

// Refuse absurd inputs from a peer (the details are at most the size of
// gRPC's metadata limit anyway).
constexpr size_t kMaxDetailsBytes = 1 << 20;

}  // namespace

std::string EncodeStatusDetails(const absl::Status& status) {
  if (status.ok()) return "";
  std::vector<google::protobuf::Any> details;
  status.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
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
