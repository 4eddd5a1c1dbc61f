#include "services/common/client_channel.h"

#include <algorithm>
#include <functional>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "google/protobuf/wrappers.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_certificate_verifier.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "grpcpp/support/channel_arguments.h"
#include "libs/rpc/status_convert.h"
#include "services/common/authorization.h"
#include "services/common/server.h"
#include "services/common/tls_files.h"

namespace arca::services {
namespace {

// One watcher per set of files for the whole process: channels are made
// per job, the files' contents are the same for all of them.
std::shared_ptr<grpc::experimental::FileWatcherCertificateProvider> WatchedFiles(
    const ClientTlsFlags& tls) {
  static absl::Mutex mu(absl::kConstInit);
  static auto* providers =
      new std::map<std::string,
                   std::shared_ptr<grpc::experimental::FileWatcherCertificateProvider>>();
  const std::string key =
      absl::StrCat(tls.key, "\n", tls.cert, "\n", tls.ca, "\n", tls.reload_seconds);
  absl::MutexLock lock(&mu);
  auto& provider = (*providers)[key];
  if (provider == nullptr) {
    provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        tls.key, tls.cert, tls.ca, static_cast<unsigned int>(std::max(1, tls.reload_seconds)));
  }
  return provider;
}

// Checks the server's name (as gRPC's default verifier does) and that its
// certificate is the SPIFFE identity of the role the caller expects to
// reach, so a certificate of another arca role cannot stand in for it.
class ServerRoleVerifier final : public grpc::experimental::ExternalCertificateVerifier {
 public:
  explicit ServerRoleVerifier(std::string want) : want_(std::move(want)) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> callback, grpc::Status* sync_status) override {
    bool sync = hostname_.Verify(request, std::move(callback), sync_status);
    // The hostname verifier is synchronous; should it ever not be, its own
    // answer stands (and the role is still checked by the server's peers).
    if (!sync || !sync_status->ok()) return sync;
    for (const grpc::string_ref& uri : request->uri_names()) {
      if (absl::string_view(uri.data(), uri.size()) == want_) return true;
    }
    *sync_status = grpc::Status(
        grpc::StatusCode::UNAUTHENTICATED,
        absl::StrCat("the server's certificate is not ", want_, " (it names ",
                     request->uri_names().empty() ? std::string("no SPIFFE ID")
                                                  : std::string(request->uri_names()[0].data(),
                                                                request->uri_names()[0].size()),
                     ")"));
    return true;
  }

  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {}

 private:
  const std::string want_;
  grpc::experimental::HostNameCertificateVerifier hostname_;
};

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
  if (absl::Status st = CheckPlaintextPeer("service", address, tls); !st.ok()) return st;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  if (tls.max_reconnect_backoff > absl::ZeroDuration()) {
    const int ms = static_cast<int>(absl::ToInt64Milliseconds(tls.max_reconnect_backoff));
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, ms);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, std::min(ms, 1000));
  }
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (tls.insecure) {
    creds = grpc::InsecureChannelCredentials();
  } else if (!tls.cert.empty() || (tls.server_role && !tls.ca.empty())) {
    // A client identity (checked now, then watched for rotation), or a
    // client without one that still checks the server's role against its
    // bundle (the CLI with a token).
    if (!tls.cert.empty()) {
      absl::StatusOr<CertificateInfo> identity =
          LoadKeyPair("client certificate", tls.cert, "client key", tls.key);
      if (!identity.ok()) return identity.status();
    }
    if (!tls.ca.empty()) {
      if (absl::Status st = CheckCaBundle("CA file", tls.ca); !st.ok()) return st;
    }
    grpc::experimental::TlsChannelCredentialsOptions options;
    options.set_certificate_provider(WatchedFiles(tls));
    if (!tls.cert.empty()) options.watch_identity_key_cert_pairs();
    if (!tls.ca.empty()) options.watch_root_certs();
    if (tls.server_role) {
      options.set_certificate_verifier(
          grpc::experimental::ExternalCertificateVerifier::Create<ServerRoleVerifier>(
              SpiffeId(tls.trust_domain, *tls.server_role)));
    }
    creds = grpc::experimental::TlsCredentials(options);
    if (!tls.server_name.empty()) args.SetSslTargetNameOverride(tls.server_name);
  } else {
    grpc::SslCredentialsOptions options;
    if (!tls.ca.empty()) {
      absl::StatusOr<std::string> ca = ReadPemFile("CA file", tls.ca);
      if (!ca.ok()) return ca.status();
      options.pem_root_certs = *std::move(ca);
    }
    creds = grpc::SslCredentials(options);
    if (!tls.server_name.empty()) args.SetSslTargetNameOverride(tls.server_name);
  }
  return grpc::CreateCustomChannel(address, creds, args);
}

absl::Status CheckPlaintextPeer(const std::string& what, const std::string& address,
                                const ClientTlsFlags& tls) {
  if (!tls.insecure) return absl::OkStatus();
  const size_t colon = address.rfind(':');
  const std::string host = colon == std::string::npos ? address : address.substr(0, colon);
  if (IsLoopbackHost(host)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "refusing plaintext to ", what, " ", address,
      ": plaintext (--insecure) is only allowed to loopback addresses (127.0.0.1, [::1], "
      "localhost); call other hosts with mutual TLS (a CA bundle, a certificate and key)"));
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
  if (!status.ok()) return rpc::FromGrpcStatus(status);
  constexpr int kServing = 1;  // grpc.health.v1.HealthCheckResponse.SERVING
  return response.value() == kServing;
}

}  // namespace arca::services
