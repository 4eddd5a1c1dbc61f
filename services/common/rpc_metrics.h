// Per-RPC metrics for every arca service, from one gRPC server interceptor:
// how many calls ended with which status, and how long they took, by
// method. Streams are timed from the call's start to its final status, so a
// Collect or PutChunks stream counts once, with the length of the whole job
// step it carried.
//
//   arca_<service>_rpcs_total{method, code}            counter
//   arca_<service>_rpc_duration_seconds{method}        histogram
//
// `method` is "Service/Method" (e.g. "Uploader/PutChunks"), `code` the gRPC
// status name ("OK", "DATA_LOSS", ...): both bounded sets.
//
// Cost: nothing per message; per call one clock read at its start and, at
// its end, two label lookups (a short mutex-protected map lookup in
// prometheus-cpp) and an atomic add.
#ifndef ARCA_SERVICES_COMMON_RPC_METRICS_H_
#define ARCA_SERVICES_COMMON_RPC_METRICS_H_

#include <memory>
#include <string>

#include "grpcpp/support/server_interceptor.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace arca::services {

// The two families of one service; owned by their registry.
struct RpcMetricFamilies {
  prometheus::Family<prometheus::Counter>* calls = nullptr;
  prometheus::Family<prometheus::Histogram>* durations = nullptr;
};

// Creates the two families in `registry` for `service` (lower case, e.g.
// "uploader"). The registry must outlive every user of the families.
RpcMetricFamilies RegisterRpcMetrics(prometheus::Registry& registry, const std::string& service);

// The interceptor factory to give to the server builder: every call that
// reaches the service is counted and timed.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeRpcMetricsInterceptor(
    const RpcMetricFamilies& families);

// RegisterRpcMetrics, then the factory over those families.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeRpcMetricsInterceptor(
    prometheus::Registry& registry, const std::string& service);

// Counts a call the authorizer refused before it reached the service (no
// interceptor sees it): rpcs_total{method, code} += 1, no duration.
void CountRefusedRpc(const RpcMetricFamilies& families, const std::string& full_method,
                     int grpc_code);

// "/arca.v1.Uploader/PutChunks" → "Uploader/PutChunks"; other shapes as given.
std::string ShortMethodName(const std::string& full_method);

// "OK", "CANCELLED", ... "UNAUTHENTICATED"; "UNKNOWN" for codes outside 0..16.
std::string GrpcCodeName(int code);

}  // namespace arca::services

#endif  // ARCA_SERVICES_COMMON_RPC_METRICS_H_
