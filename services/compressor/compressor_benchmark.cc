// Throughput of the Compressor service over loopback TCP against calling
// EncodeBlob directly in one thread per core: what the RPC layer costs.
//   bazel run //services/compressor:compressor_benchmark -- [MIB] [CHUNK_KIB] [THREADS]
// Data: text-like bytes (compresses about 3x with zstd -3), distinct chunks.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "libs/blob/blob.h"
#include "libs/hash/digest.h"
#include "services/common/client_channel.h"
#include "services/common/server.h"
#include "services/compressor/compressor_service.h"

namespace {

std::string Chunk(size_t n, uint32_t seed) {
  static const char* kWords[] = {"backup ", "chunk ", "arca ",  "stream ", "index ",
                                 "the ",    "of ",    "data\n", "42 ",     "file "};
  std::mt19937 rng(seed);
  std::string s;
  s.reserve(n + 16);
  while (s.size() < n) s += kWords[rng() % 10];
  s.resize(n);
  return s;
}

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int mib = argc > 1 ? std::atoi(argv[1]) : 256;
  const int chunk_kib = argc > 2 ? std::atoi(argv[2]) : 4096;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 0;
  const size_t chunk_bytes = static_cast<size_t>(chunk_kib) << 10;
  const int count = std::max(1, static_cast<int>((static_cast<size_t>(mib) << 20) / chunk_bytes));
  std::vector<arca::v1::CompressRequest> requests(count);
  for (int i = 0; i < count; ++i) {
    std::string data = Chunk(chunk_bytes, i);
    requests[i].set_codec(arca::v1::CODEC_ZSTD);
    requests[i].set_level(3);
    requests[i].mutable_chunk()->mutable_ref()->set_digest(std::string(arca::Sha256(data).Raw()));
    requests[i].mutable_chunk()->set_data(std::move(data));
  }
  const double total_mb = static_cast<double>(count) * chunk_bytes / 1e6;

  // Direct: EncodeBlob + SHA-256 check on `n` threads, no RPC.
  const int n = threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency());
  auto start = std::chrono::steady_clock::now();
  {
    std::vector<std::thread> workers;
    for (int t = 0; t < n; ++t) {
      workers.emplace_back([&, t] {
        for (int i = t; i < count; i += n) {
          auto r = arca::services::CompressChunk(requests[i]);
          if (!r.ok()) std::abort();
        }
      });
    }
    for (auto& w : workers) w.join();
  }
  const double direct = Seconds(start);

  // Through the service over loopback TCP, one stream.
  arca::services::CompressorService service({.threads = threads});
  arca::services::ServerFlags flags;
  flags.listen = "127.0.0.1:0";
  flags.host = "127.0.0.1";
  flags.insecure = true;
  auto server = arca::services::StartServer(flags, {&service});
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  auto channel = arca::services::MakeChannel(server->address, {.insecure = true});
  auto stub = arca::v1::Compressor::NewStub(*channel);
  start = std::chrono::steady_clock::now();
  grpc::ClientContext ctx;
  auto stream = stub->Compress(&ctx);
  std::thread writer([&] {
    for (const auto& r : requests) stream->Write(r);
    stream->WritesDone();
  });
  arca::v1::Blob blob;
  size_t blobs = 0, stored = 0;
  while (stream->Read(&blob)) {
    ++blobs;
    stored += blob.data().size();
  }
  writer.join();
  grpc::Status st = stream->Finish();
  const double rpc = Seconds(start);
  server->server->Shutdown();
  if (!st.ok() || blobs != requests.size()) {
    std::fprintf(stderr, "stream failed: %s\n", st.error_message().c_str());
    return 1;
  }
  std::printf("%d chunks of %d KiB (%.0f MB), zstd -3, %d threads, ratio %.2f\n", count, chunk_kib,
              total_mb, n, total_mb * 1e6 / stored);
  std::printf("direct CompressChunk: %7.1f MB/s\n", total_mb / direct);
  std::printf("gRPC Compress stream: %7.1f MB/s (%.2fx of direct)\n", total_mb / rpc, direct / rpc);
  return 0;
}
