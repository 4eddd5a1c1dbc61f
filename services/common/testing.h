// Helpers for the services' unit tests (testonly): a service on a real gRPC
// server reached through an in-process channel, and a bidi stream driven to
// its end.
#ifndef ARCA_SERVICES_COMMON_TESTING_H_
#define ARCA_SERVICES_COMMON_TESTING_H_

#include <memory>
#include <thread>
#include <vector>

#include "grpcpp/channel.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/channel_arguments.h"
#include "grpcpp/support/sync_stream.h"
#include "services/common/server.h"

namespace arca::services::testing {

// A started gRPC server hosting `services` (not owned; they must outlive it)
// with the services' message limits (kMaxMessageBytes), and an in-process
// channel to it with the same limits. The destructor shuts it down and waits.
class InProcessServer {
 public:
  explicit InProcessServer(const std::vector<grpc::Service*>& services) {
    grpc::ServerBuilder builder;
    builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
    builder.SetMaxSendMessageSize(kMaxMessageBytes);
    for (grpc::Service* s : services) builder.RegisterService(s);
    server_ = builder.BuildAndStart();
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(kMaxMessageBytes);
    args.SetMaxSendMessageSize(kMaxMessageBytes);
    channel_ = server_->InProcessChannel(args);
  }
  ~InProcessServer() {
    server_->Shutdown();
    server_->Wait();
  }
  InProcessServer(const InProcessServer&) = delete;
  InProcessServer& operator=(const InProcessServer&) = delete;

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

 private:
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

// Writes every request on `stream` from another thread (then WritesDone)
// while this thread reads every response into *out; returns the call's
// status. Writing stops at the first failed Write (the call has ended).
template <typename Req, typename Resp>
grpc::Status DriveBidi(grpc::ClientReaderWriter<Req, Resp>* stream,
                       const std::vector<Req>& requests, std::vector<Resp>* out) {
  std::thread writer([&] {
    for (const Req& r : requests) {
      if (!stream->Write(r)) break;
    }
    stream->WritesDone();
  });
  Resp response;
  while (stream->Read(&response)) out->push_back(response);
  writer.join();
  return stream->Finish();
}

}  // namespace arca::services::testing

#endif  // ARCA_SERVICES_COMMON_TESTING_H_
