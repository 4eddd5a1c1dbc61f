#include "libs/testing/rgw_environment.h"

#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "gtest/gtest.h"

namespace arca::testing {
namespace {

RgwServer* g_shared = nullptr;

class RgwEnvironment final : public ::testing::Environment {
 public:
  RgwEnvironment(RgwServerOptions options, bool export_aws_env)
      : options_(std::move(options)), export_aws_env_(export_aws_env) {}

  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    absl::StatusOr<std::unique_ptr<RgwServer>> started =
        RgwServer::Start(std::string(tmp != nullptr ? tmp : "/tmp") + "/rgw", options_);
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
    g_shared = server_.get();
    if (export_aws_env_) {
      ::setenv("AWS_ENDPOINT_URL", server_->endpoint().c_str(), 1);
      ::setenv("AWS_ACCESS_KEY_ID", server_->access_key().c_str(), 1);
      ::setenv("AWS_SECRET_ACCESS_KEY", server_->secret_key().c_str(), 1);
      ::setenv("AWS_REGION", server_->region().c_str(), 1);
    }
  }
  void TearDown() override {
    g_shared = nullptr;
    server_.reset();
  }

 private:
  const RgwServerOptions options_;
  const bool export_aws_env_;
  std::unique_ptr<RgwServer> server_;
};

}  // namespace

void RegisterSharedRgw(RgwServerOptions options, bool export_aws_env) {
  ::testing::AddGlobalTestEnvironment(new RgwEnvironment(std::move(options), export_aws_env));
}

RgwServer* SharedRgw() { return g_shared; }

}  // namespace arca::testing
