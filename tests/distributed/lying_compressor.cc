// The attacker of the zero-trust tests (issue 10): a process that serves the
// arca.v1.Compressor API like arca-compressor but lies. Not a mock of the
// compressor: it runs the real CompressChunk / DecompressBlob of
// services/compressor and then corrupts their answers, as a compromised or
// broken compressor node would.
//   lying_compressor --lie=MODE --listen=HOST:PORT --insecure
// MODE:
//   wrong-digest        Compress names each blob after other bytes (the
//                       SHA-256 of the chunk with one byte appended);
//   garbage-blob        Compress answers a frame-valid blob of other content
//                       (every byte flipped, same length) under the right
//                       digest;
//   lying-decompressor  Compress is honest; Decompress returns other bytes
//                       (every byte flipped) under the requested digest for
//                       every chunk of 4 KiB or more (a careful attacker
//                       leaves a small metadata stream alone, so that the
//                       restore runs and writes the forged file contents).
// Streams are answered in order, one request at a time. Exit 2 on bad flags.
#include <iostream>
#include <span>
#include <string>
#include <vector>

#include "arca/v1/compressor.grpc.pb.h"
#include "libs/base/cli_flags.h"
#include "libs/blob/blob.h"
#include "libs/codec/codec.h"
#include "libs/hash/digest.h"
#include "libs/rpc/status_convert.h"
#include "services/common/server.h"
#include "services/compressor/compressor_service.h"

namespace arca::distributed {
namespace {

enum class Lie { kWrongDigest, kGarbageBlob, kLyingDecompressor };

std::string Flipped(const std::string& s) {
  std::string out = s;
  for (char& c : out) c = static_cast<char>(c ^ 0x5a);
  return out;
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

class LyingCompressor final : public v1::Compressor::Service {
 public:
  explicit LyingCompressor(Lie lie) : lie_(lie) {}

  grpc::Status Compress(grpc::ServerContext* context,
                        grpc::ServerReaderWriter<v1::Blob, v1::CompressRequest>* stream) override {
    v1::CompressRequest request;
    while (stream->Read(&request)) {
      const std::string plain = request.chunk().data();
      const v1::Codec codec = request.codec();
      const int level = request.level();
      absl::StatusOr<v1::Blob> blob = services::CompressChunk(std::move(request));
      if (!blob.ok()) return rpc::ToGrpcStatus(blob.status());
      if (lie_ == Lie::kWrongDigest) {
        blob->mutable_ref()->set_digest(std::string(Sha256(plain + "!").Raw()));
      } else if (lie_ == Lie::kGarbageBlob) {
        absl::StatusOr<std::string> other =
            EncodeBlob(Bytes(Flipped(plain)), static_cast<Codec>(static_cast<int>(codec)), level);
        if (!other.ok()) return rpc::ToGrpcStatus(other.status());
        blob->set_data(*std::move(other));
      }
      if (!stream->Write(*blob)) break;
    }
    return grpc::Status::OK;
  }

  grpc::Status Decompress(grpc::ServerContext* context,
                          grpc::ServerReaderWriter<v1::RawChunk, v1::Blob>* stream) override {
    v1::Blob blob;
    while (stream->Read(&blob)) {
      absl::StatusOr<v1::RawChunk> raw = services::DecompressBlob(std::move(blob));
      if (!raw.ok()) return rpc::ToGrpcStatus(raw.status());
      if (lie_ == Lie::kLyingDecompressor && raw->data().size() >= 4096) {
        raw->set_data(Flipped(raw->data()));
      }
      if (!stream->Write(*raw)) break;
    }
    return grpc::Status::OK;
  }

 private:
  const Lie lie_;
};

int Main(int argc, char** argv) {
  // It poses as the compressor (its metrics are arca_compressor_*).
  constexpr char kProgram[] = "arca-compressor";
  cli::FlagSpec spec;
  services::AddServerFlags(&spec);
  spec.value_flags.insert("lie");
  absl::StatusOr<cli::ParsedArgs> args =
      cli::ParseArgs(std::vector<std::string>(argv + 1, argv + argc), spec);
  if (!args.ok()) {
    std::cerr << kProgram << ": " << args.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<services::ServerFlags> flags = services::ParseServerFlags(*args);
  if (!flags.ok()) {
    std::cerr << kProgram << ": " << flags.status().message() << "\n";
    return 2;
  }
  const std::string mode = args->Last("lie").value_or("");
  Lie lie;
  if (mode == "wrong-digest") {
    lie = Lie::kWrongDigest;
  } else if (mode == "garbage-blob") {
    lie = Lie::kGarbageBlob;
  } else if (mode == "lying-decompressor") {
    lie = Lie::kLyingDecompressor;
  } else {
    std::cerr << kProgram << ": invalid --lie '" << mode
              << "': expected wrong-digest, garbage-blob or lying-decompressor\n";
    return 2;
  }
  LyingCompressor service(lie);
  return services::RunServer(kProgram, *flags, {&service},
                             {.health_names = {v1::Compressor::service_full_name()}});
}

}  // namespace
}  // namespace arca::distributed

int main(int argc, char** argv) { return arca::distributed::Main(argc, argv); }
