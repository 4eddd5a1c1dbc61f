#include "services/common/rpc_metrics.h"

#include <chrono>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/support/interceptor.h"
#include "services/common/authorization.h"

namespace arca::services {
namespace {

// Seconds: from a quick HasChunks (~100 µs) to a job-long stream (hours).
const prometheus::Histogram::BucketBoundaries& DurationBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400};
  return *buckets;
}

using Families = RpcMetricFamilies;

class RpcMetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  RpcMetricsInterceptor(const Families& families, std::string method)
      : families_(families), method_(std::move(method)), start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      const grpc::Status status = methods->GetSendStatus();
      families_.calls->Add({{"method", method_}, {"code", GrpcCodeName(status.error_code())}})
          .Increment();
      families_.durations->Add({{"method", method_}}, DurationBuckets()).Observe(seconds);
    }
    methods->Proceed();
  }

 private:
  const Families families_;
  const std::string method_;
  const std::chrono::steady_clock::time_point start_;
};

class RpcMetricsFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcMetricsFactory(const Families& families) : families_(families) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    const char* method = info->method();
    return new RpcMetricsInterceptor(families_, ShortMethodName(method ? method : ""));
  }

 private:
  const Families families_;
};

}  // namespace

std::string ShortMethodName(const std::string& full_method) {
  // "/package.Service/Method": drop the leading slash and the package.
  std::string s = full_method;
  if (!s.empty() && s[0] == '/') s.erase(0, 1);
  const size_t slash = s.find('/');
  if (slash == std::string::npos) return s.empty() ? "unknown" : s;
  const size_t dot = s.rfind('.', slash);
  if (dot != std::string::npos) s.erase(0, dot + 1);
  return s;
}

std::string GrpcCodeName(int code) {
  // gRPC and absl share the status code numbers and names.
  std::string name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return name.empty() ? "UNKNOWN" : name;
}

RpcMetricFamilies RegisterRpcMetrics(prometheus::Registry& registry, const std::string& service) {
  Families families;
  families.calls = &prometheus::BuildCounter()
                        .Name(absl::StrCat("arca_", service, "_rpcs_total"))
                        .Help("RPCs served, by method and final gRPC status code")
                        .Register(registry);
  families.durations =
      &prometheus::BuildHistogram()
           .Name(absl::StrCat("arca_", service, "_rpc_duration_seconds"))
           .Help("Time from the start of an RPC to its final status (whole streams), by method")
           .Register(registry);
  return families;
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeRpcMetricsInterceptor(
    const RpcMetricFamilies& families) {
  return std::make_unique<RpcMetricsFactory>(families);
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeRpcMetricsInterceptor(
    prometheus::Registry& registry, const std::string& service) {
  return MakeRpcMetricsInterceptor(RegisterRpcMetrics(registry, service));
}

void CountRefusedRpc(const RpcMetricFamilies& families, const std::string& full_method,
                     int grpc_code) {
  // A refused caller chooses the method name: only known ones become labels.
  const std::string method = IsKnownMethod(full_method) ? ShortMethodName(full_method) : "unknown";
  families.calls->Add({{"method", method}, {"code", GrpcCodeName(grpc_code)}}).Increment();
}

}  // namespace arca::services
