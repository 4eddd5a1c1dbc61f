#include "services/common/rpc_metrics.h"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/stub_options.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"

namespace arca::services {
namespace {

using ::testing::HasSubstr;

// Answers every method: "/test.v1.Echo/Ok" with OK, anything else NOT_FOUND.
class EchoService final : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    class Reactor final : public grpc::ServerGenericBidiReactor {
     public:
      explicit Reactor(bool ok) : ok_(ok) { StartRead(&request_); }
      void OnReadDone(bool got) override {
        if (!got) return Finish(grpc::Status::OK);
        if (!ok_) return Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "no such method"));
        StartWriteAndFinish(&request_, grpc::WriteOptions(), grpc::Status::OK);
      }
      void OnDone() override { delete this; }

     private:
      const bool ok_;
      grpc::ByteBuffer request_;
    };
    return new Reactor(ctx->method() == "/test.v1.Echo/Ok");
  }
};

// A real server with the interceptor.
class RpcMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.RegisterCallbackGenericService(&echo_);
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(MakeRpcMetricsInterceptor(registry_, "testsvc"));
    builder.experimental().SetInterceptorCreators(std::move(creators));
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ = server_->InProcessChannel(grpc::ChannelArguments());
  }
  void TearDown() override { server_->Shutdown(); }

  grpc::Status Call(const std::string& method) {
    grpc::ByteBuffer request, response;
    grpc::Slice slice(std::string("ping"));
    request = grpc::ByteBuffer(&slice, 1);
    grpc::GenericStub stub(channel_);
    grpc::ClientContext ctx;
    grpc::Status status;
    bool done = false;
    std::mutex mu;
    std::condition_variable cv;
    stub.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
      std::lock_guard<std::mutex> lock(mu);
      status = s;
      done = true;
      cv.notify_one();
    });
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
    return status;
  }

  std::string Exposition() { return prometheus::TextSerializer().Serialize(registry_.Collect()); }

  EchoService echo_;
  prometheus::Registry registry_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(RpcMetricsTest, CountsCallsByMethodAndCodeAndTimesThem) {
  ASSERT_TRUE(Call("/test.v1.Echo/Ok").ok());
  ASSERT_TRUE(Call("/test.v1.Echo/Ok").ok());
  EXPECT_EQ(Call("/test.v1.Echo/Missing").error_code(), grpc::StatusCode::NOT_FOUND);
  const std::string text = Exposition();
  EXPECT_THAT(text, HasSubstr("arca_testsvc_rpcs_total{code=\"OK\",method=\"Echo/Ok\"} 2"));
  EXPECT_THAT(text,
              HasSubstr("arca_testsvc_rpcs_total{code=\"NOT_FOUND\",method=\"Echo/Missing\"} 1"));
  EXPECT_THAT(text, HasSubstr("arca_testsvc_rpc_duration_seconds_count{method=\"Echo/Ok\"} 2"));
  EXPECT_THAT(text, HasSubstr("arca_testsvc_rpc_duration_seconds_bucket{method=\"Echo/Missing\","
                              "le=\"+Inf\"} 1"));
}

TEST(RpcMetricsNamesTest, ShortMethodAndCodeNames) {
  EXPECT_EQ(ShortMethodName("/arca.v1.Uploader/PutChunks"), "Uploader/PutChunks");
  EXPECT_EQ(ShortMethodName("/grpc.health.v1.Health/Check"), "Health/Check");
  EXPECT_EQ(ShortMethodName("/Plain/Call"), "Plain/Call");
  EXPECT_EQ(ShortMethodName(""), "unknown");
  EXPECT_EQ(GrpcCodeName(0), "OK");
  EXPECT_EQ(GrpcCodeName(15), "DATA_LOSS");
  EXPECT_EQ(GrpcCodeName(16), "UNAUTHENTICATED");
  EXPECT_EQ(GrpcCodeName(99), "UNKNOWN");
}

}  // namespace
}  // namespace arca::services
