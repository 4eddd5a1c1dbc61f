// Throughput of PutChunks over loopback TCP (check + store + group-commit
// acks) against Put + one Flush directly on a LocalChunkStore.
//   bazel run //services/uploader:uploader_benchmark -- DIR [MIB] [CHUNK_KIB] [STREAMS]
// DIR is created (or emptied) and holds two repositories.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "libs/blob/blob.h"
#include "libs/hash/digest.h"
#include "libs/store/repository.h"
#include "services/common/client_channel.h"
#include "services/common/server.h"
#include "services/uploader/uploader_service.h"

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

std::unique_ptr<arca::Repository> NewRepo(const std::string& dir) {
  std::filesystem::remove_all(dir);
  arca::v1::RepositoryConfig config;
  auto repo = arca::Repository::Init(dir, config);
  if (!repo.ok()) {
    std::fprintf(stderr, "%s\n", std::string(repo.status().message()).c_str());
    std::exit(1);
  }
  return std::move(*repo);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: uploader_benchmark DIR [MIB] [CHUNK_KIB] [STREAMS]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const int mib = argc > 2 ? std::atoi(argv[2]) : 256;
  const int chunk_kib = argc > 3 ? std::atoi(argv[3]) : 4096;
  const int streams = argc > 4 ? std::max(1, std::atoi(argv[4])) : 1;
  const size_t chunk_bytes = static_cast<size_t>(chunk_kib) << 10;
  const int count = std::max(1, static_cast<int>((static_cast<size_t>(mib) << 20) / chunk_bytes));
  std::vector<arca::v1::Blob> blobs(count);
  size_t blob_bytes = 0;
  for (int i = 0; i < count; ++i) {
    const std::string data = Chunk(chunk_bytes, i);
    auto encoded = arca::EncodeBlob(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()),
        arca::Codec::kZstd, 3);
    blobs[i].mutable_ref()->set_digest(std::string(arca::Sha256(data).Raw()));
    blobs[i].set_data(*std::move(encoded));
    blob_bytes += blobs[i].data().size();
  }
  const double raw_mb = static_cast<double>(count) * chunk_bytes / 1e6;
  const double stored_mb = blob_bytes / 1e6;

  // Direct: Put every blob (no check), one Flush.
  {
    auto repo = NewRepo(dir + "/direct");
    auto start = std::chrono::steady_clock::now();
    for (const auto& b : blobs) {
      auto d = arca::Digest::FromRaw(b.ref().digest());
      if (!repo->chunks()->Put(*d, b.data()).ok()) std::abort();
    }
    if (!repo->chunks()->Flush().ok()) std::abort();
    std::printf("direct Put+Flush:       %7.1f MB/s raw (%7.1f MB/s stored)\n",
                raw_mb / Seconds(start), stored_mb / Seconds(start));
  }
  // Through the service: CheckAndPut (default frame check) and durable acks.
  auto repo = NewRepo(dir + "/service");
  arca::services::UploaderService service(repo.get(), {});
  arca::services::ServerFlags flags;
  flags.listen = "127.0.0.1:0";
  flags.host = "127.0.0.1";
  flags.insecure = true;
  auto server = arca::services::StartServer(flags, {&service});
  if (!server.ok()) return 1;
  auto channel = arca::services::MakeChannel(server->address, {.insecure = true});
  auto stub = arca::v1::Uploader::NewStub(*channel);
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  std::atomic<size_t> acked{0};
  for (int s = 0; s < streams; ++s) {
    clients.emplace_back([&, s] {
      grpc::ClientContext ctx;
      auto stream = stub->PutChunks(&ctx);
      std::thread writer([&] {
        for (int i = s; i < count; i += streams) stream->Write(blobs[i]);
        stream->WritesDone();
      });
      arca::v1::PutChunkAck ack;
      while (stream->Read(&ack)) ++acked;
      writer.join();
      if (!stream->Finish().ok()) std::abort();
    });
  }
  for (auto& c : clients) c.join();
  const double secs = Seconds(start);
  server->server->Shutdown();
  if (acked != blobs.size()) return 1;
  std::printf("gRPC PutChunks x%d:      %7.1f MB/s raw (%7.1f MB/s stored)\n", streams,
              raw_mb / secs, stored_mb / secs);
  std::printf("%d chunks of %d KiB, %.0f MB raw, %.0f MB stored\n", count, chunk_kib, raw_mb,
              stored_mb);
  return 0;
}
