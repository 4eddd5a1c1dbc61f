// SIGTERM on the real binaries: in-flight streams keep working while the
// server drains, the process exits 0 once they end; streams still open at
// the drain deadline are cancelled and the process still exits 0.
#include <signal.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "arca/v1/compressor.grpc.pb.h"
#include "arca/v1/uploader.grpc.pb.h"
#include "gtest/gtest.h"
#include "libs/blob/blob.h"
#include "libs/hash/digest.h"
#include "services/common/client_channel.h"
#include "tests/distributed/service_process.h"

namespace arca::distributed {
namespace {

v1::CompressRequest Request(const std::string& data) {
  v1::CompressRequest r;
  r.set_codec(v1::CODEC_ZSTD);
  r.set_level(3);
  r.mutable_chunk()->mutable_ref()->set_digest(std::string(Sha256(data).Raw()));
  r.mutable_chunk()->set_data(data);
  return r;
}

// Waits until the process logged that it is draining.
bool WaitForDraining(const ServiceProcess& p) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    if (p.Stderr().find("draining") != std::string::npos) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

TEST(ShutdownTest, CompressorDrainsAnInFlightStreamThenExits0) {
  auto server = ServiceProcess::Start(Runfile("services/compressor/compressor"),
                                      {"--insecure", "--drain-seconds", "30"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = services::MakeChannel((*server)->address(), {.insecure = true});
  ASSERT_TRUE(channel.ok());
  auto stub = v1::Compressor::NewStub(*channel);
  grpc::ClientContext ctx;
  auto stream = stub->Compress(&ctx);
  v1::Blob blob;
  ASSERT_TRUE(stream->Write(Request("before the signal")));
  ASSERT_TRUE(stream->Read(&blob));

  (*server)->Signal(SIGTERM);
  ASSERT_TRUE(WaitForDraining(**server)) << (*server)->Stderr();
  // The stream still works while draining...
  ASSERT_TRUE(stream->Write(Request("during the drain")));
  ASSERT_TRUE(stream->Read(&blob));
  EXPECT_EQ(blob.ref().digest(), Sha256(std::string("during the drain")).Raw());
  // ...the process waits for it...
  EXPECT_EQ((*server)->WaitExit(absl::Milliseconds(500)), -1) << "exited with a stream open";
  // ...new connections are not served...
  auto fresh = services::MakeChannel((*server)->address(), {.insecure = true});
  ASSERT_TRUE(fresh.ok());
  absl::StatusOr<bool> serving = services::CheckServing(*fresh, "", absl::Seconds(5));
  EXPECT_FALSE(serving.ok() && *serving) << "a new call was served while draining";
  // ...and it exits 0 once the stream ends.
  stream->WritesDone();
  EXPECT_FALSE(stream->Read(&blob));
  grpc::Status st = stream->Finish();
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ((*server)->WaitExit(absl::Seconds(30)), 0) << (*server)->Stderr();
  EXPECT_NE((*server)->Stderr().find("stopped"), std::string::npos);
}

TEST(ShutdownTest, StreamOpenAtTheDrainDeadlineIsCancelledAndTheProcessExits0) {
  auto server = ServiceProcess::Start(Runfile("services/compressor/compressor"),
                                      {"--insecure", "--drain-seconds", "1"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = services::MakeChannel((*server)->address(), {.insecure = true});
  ASSERT_TRUE(channel.ok());
  auto stub = v1::Compressor::NewStub(*channel);
  grpc::ClientContext ctx;
  auto stream = stub->Compress(&ctx);
  v1::Blob blob;
  ASSERT_TRUE(stream->Write(Request("x")));
  ASSERT_TRUE(stream->Read(&blob));
  const absl::Time start = absl::Now();
  (*server)->Signal(SIGTERM);
  EXPECT_EQ((*server)->WaitExit(absl::Seconds(30)), 0) << (*server)->Stderr();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(900)) << "did not wait for the drain";
  EXPECT_FALSE(stream->Read(&blob));
  grpc::Status st = stream->Finish();
  EXPECT_FALSE(st.ok());
}

TEST(ShutdownTest, UploaderAcksAndStoresDuringTheDrain) {
  const std::string repo = NewTempDir("drain-repo") + "/r";
  RunResult init = RunProgram({Runfile("tools/arca/arca"), "init", "--repo", repo});
  ASSERT_EQ(init.exit_code, 0) << init.Describe();
  auto server = ServiceProcess::Start(Runfile("services/uploader/uploader"),
                                      {"--repo", repo, "--insecure", "--drain-seconds", "30"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = services::MakeChannel((*server)->address(), {.insecure = true});
  ASSERT_TRUE(channel.ok());
  auto stub = v1::Uploader::NewStub(*channel);
  grpc::ClientContext ctx;
  auto stream = stub->PutChunks(&ctx);
  std::vector<std::string> hexes;
  auto put = [&](const std::string& data) {
    auto encoded = EncodeBlob(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()),
        Codec::kZstd, 3);
    ASSERT_TRUE(encoded.ok());
    v1::Blob blob;
    blob.mutable_ref()->set_digest(std::string(Sha256(data).Raw()));
    blob.set_data(*encoded);
    hexes.push_back(Sha256(data).Hex());
    ASSERT_TRUE(stream->Write(blob));
    v1::PutChunkAck ack;
    ASSERT_TRUE(stream->Read(&ack));  // acked = durable
    EXPECT_EQ(ack.digest(), blob.ref().digest());
  };
  put("first chunk");
  (*server)->Signal(SIGTERM);
  ASSERT_TRUE(WaitForDraining(**server)) << (*server)->Stderr();
  put("second chunk, sent while draining");
  stream->WritesDone();
  grpc::Status st = stream->Finish();
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ((*server)->WaitExit(absl::Seconds(30)), 0) << (*server)->Stderr();
  for (const std::string& hex : hexes) {
    EXPECT_TRUE(std::filesystem::exists(repo + "/chunks/" + hex.substr(0, 2) + "/" +
                                        hex.substr(2, 2) + "/" + hex))
        << hex;
  }
  RunResult verify = RunProgram({Runfile("tools/arca/arca"), "verify", "--repo", repo});
  EXPECT_EQ(verify.exit_code, 0) << verify.Describe();
}

}  // namespace
}  // namespace arca::distributed
