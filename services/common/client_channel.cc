#include "services/common/client_channel.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "google/protobuf/wrappers.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "services/common/server.h"
#include "services/common/status_convert.h"

namespace arca::services {
namespace {

absl::StatusOr<std::string> ReadFileFlag(const char* what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", path, ": cannot read the file: ", std::strerror(errno)));
  }
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (data.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", path, ": the file is empty; expected PEM data"));
  }
  return data;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address,
                                                           const ClientTlsFlags& tls) {
  if (address.empty()) return absl::InvalidArgumentError("empty service address");
  if (tls.cert.empty() != tls.key.empty()) {
    return absl::InvalidArgumentError(
        "the client certificate and key must be given together (--tls-cert, --tls-key)");
  }
  if (tls.insecure && (!tls.ca.empty() || !tls.cert.empty())) {
    return absl::InvalidArgumentError(
        "plaintext (--insecure) cannot be combined with TLS files: choose one");
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (tls.insecure) {
    creds = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions options;
    if (!tls.ca.empty()) {
      absl::StatusOr<std::string> ca = ReadFileFlag("CA file", tls.ca);
      if (!ca.ok()) return ca.status();
      options.pem_root_certs = *std::move(ca);
    }
    if (!tls.cert.empty()) {
      absl::StatusOr<std::string> cert = ReadFileFlag("client certificate", tls.cert);
      if (!cert.ok()) return cert.status();
      absl::StatusOr<std::string> key = ReadFileFlag("client key", tls.key);
      if (!key.ok()) return key.status();
      options.pem_cert_chain = *std::move(cert);
      options.pem_private_key = *std::move(key);
    }
    creds = grpc::SslCredentials(options);
    if (!tls.server_name.empty()) args.SetSslTargetNameOverride(tls.server_name);
  }
  return grpc::CreateCustomChannel(address, creds, args);
}

absl::StatusOr<bool> CheckServing(const std::shared_ptr<grpc::Channel>& channel,
                                  const std::string& service, absl::Duration timeout) {
  // grpc.health.v1.HealthCheckRequest {string service = 1} and
  // HealthCheckResponse {ServingStatus status = 1} have the wire format of
  // StringValue and Int32Value, so no generated health stub is needed.
  grpc::TemplatedGenericStub<google::protobuf::StringValue, google::protobuf::Int32Value> stub(
      channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  google::protobuf::StringValue request;
  request.set_value(service);
  google::protobuf::Int32Value response;
  grpc::Status status;
  absl::Notification done;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (!status.ok()) return FromGrpcStatus(status);
  constexpr int kServing = 1;  // grpc.health.v1.HealthCheckResponse.SERVING
  return response.value() == kServing;
}

}  // namespace arca::services
