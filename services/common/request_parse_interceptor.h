// A request whose bytes do not parse as the method's protobuf message is bad
// input, not a server failure: gRPC C++ answers it INTERNAL with an empty
// message (its deserializer's status). This server interceptor turns that
// answer into INVALID_ARGUMENT naming the method and what to check, on every
// arca service (services/common/server.cc installs it).
//
// Only methods with one request message (unary, server streaming) are
// checked: their request is parsed before the handler runs. In a client or
// bidirectional stream a read without a message is also the stream's normal
// end, so a garbled message there ends the stream as the service's reactor
// decides.
#ifndef ARCA_SERVICES_COMMON_REQUEST_PARSE_INTERCEPTOR_H_
#define ARCA_SERVICES_COMMON_REQUEST_PARSE_INTERCEPTOR_H_

#include <memory>
#include <string>

#include "grpcpp/support/server_interceptor.h"

namespace arca::services {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeRequestParseInterceptor();

// The message a malformed request gets (exposed for tests).
std::string MalformedRequestMessage(const std::string& full_method);

}  // namespace arca::services

#endif  // ARCA_SERVICES_COMMON_REQUEST_PARSE_INTERCEPTOR_H_
