#include "services/common/request_parse_interceptor.h"

#include "absl/strings/str_cat.h"

namespace arca::services {
namespace {

using grpc::experimental::InterceptionHookPoints;

class RequestParseInterceptor final : public grpc::experimental::Interceptor {
 public:
  RequestParseInterceptor(std::string method, bool single_request)
      : method_(std::move(method)), single_request_(single_request) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    // Only a method with one request message (unary, server streaming): in a
    // client stream, a read without a message is the stream's normal end.
    if (single_request_ &&
        methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      unparsed_ = true;  // the payload arrived but did not deserialize
    }
    if (unparsed_ && methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS) &&
        methods->GetSendStatus().error_code() == grpc::StatusCode::INTERNAL) {
      methods->ModifySendStatus(
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, MalformedRequestMessage(method_)));
    }
    methods->Proceed();
  }

 private:
  const std::string method_;
  const bool single_request_;
  bool unparsed_ = false;
};

class RequestParseFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    const char* method = info->method();
    const bool single_request =
        info->type() == grpc::experimental::ServerRpcInfo::Type::UNARY ||
        info->type() == grpc::experimental::ServerRpcInfo::Type::SERVER_STREAMING;
    return new RequestParseInterceptor(method ? method : "", single_request);
  }
};

}  // namespace

std::string MalformedRequestMessage(const std::string& full_method) {
  return absl::StrCat(
      "the request to ", full_method.empty() ? std::string("this method") : full_method,
      " is not a valid protobuf message of its request type (truncated, garbled, or encoded "
      "from another message): check the client's stubs against protos/arca/v1");
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeRequestParseInterceptor() {
  return std::make_unique<RequestParseFactory>();
}

}  // namespace arca::services
