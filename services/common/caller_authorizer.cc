#include "services/common/caller_authorizer.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "grpc/grpc_security_constants.h"
#include "libs/rpc/status_convert.h"

namespace arca::services {
namespace {

std::string FirstValue(const grpc::AuthContext& context, const char* property) {
  std::vector<grpc::string_ref> values = context.FindPropertyValues(property);
  if (values.empty()) return "";
  return std::string(values[0].data(), values[0].size());
}

// Compares without an early exit, so the time taken says nothing about
// where a wrong token differs.
bool SameSecret(absl::string_view a, absl::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < b.size(); ++i) {
    diff |= static_cast<unsigned char>(b[i] ^ (i < a.size() ? a[i] : 0));
  }
  return diff == 0;
}

class CallerAuthorizer final : public grpc::AuthMetadataProcessor {
 public:
  CallerAuthorizer(AuthorizationPolicy policy, std::string token, RefusedCallCounter count)
      : policy_(std::move(policy)), token_(std::move(token)), count_(std::move(count)) {}

  // A table lookup and a few string compares: run inline on the call's
  // thread.
  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed, OutputMetadata* /*response*/) override {
    std::string method;
    if (auto it = metadata.find(":path"); it != metadata.end()) {
      method.assign(it->second.data(), it->second.size());
    }
    const Caller caller = CallerOf(*context, metadata, token_);
    // The token never reaches a handler (or a log of its metadata).
    if (auto it = metadata.find("authorization"); it != metadata.end()) {
      consumed->emplace(std::string(it->first.data(), it->first.size()),
                        std::string(it->second.data(), it->second.size()));
    }
    absl::Status status = Authorize(caller, method, policy_);
    if (status.ok()) return grpc::Status::OK;
    if (count_) count_(method, static_cast<int>(status.code()));
    return rpc::ToGrpcStatus(status);
  }

 private:
  const AuthorizationPolicy policy_;
  const std::string token_;
  const RefusedCallCounter count_;
};

}  // namespace

Caller CallerOf(const grpc::AuthContext& context,
                const grpc::AuthMetadataProcessor::InputMetadata& metadata,
                const std::string& token) {
  Caller caller;
  const std::string security = FirstValue(context, GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME);
  if (security == "local") {
    caller.kind = Caller::Kind::kLocal;
  } else if (!context.FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME).empty()) {
    caller.kind = Caller::Kind::kCertificate;
    caller.spiffe_id = FirstValue(context, GRPC_PEER_SPIFFE_ID_PROPERTY_NAME);
    caller.subject = FirstValue(context, GRPC_X509_SUBJECT_PROPERTY_NAME);
  } else {
    caller.kind = Caller::Kind::kAnonymous;
  }
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    caller.sent_token = true;
    absl::string_view value(it->second.data(), it->second.size());
    caller.valid_token =
        !token.empty() && absl::ConsumePrefix(&value, "Bearer ") && SameSecret(value, token);
  }
  return caller;
}

std::shared_ptr<grpc::AuthMetadataProcessor> MakeCallerAuthorizer(
    AuthorizationPolicy policy, std::string token, RefusedCallCounter count_refused) {
  return std::make_shared<CallerAuthorizer>(std::move(policy), std::move(token),
                                            std::move(count_refused));
}

}  // namespace arca::services
