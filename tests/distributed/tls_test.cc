// TLS and client certificates on the real binaries: certificates made with
// the openssl CLI (make_certs.sh: one SPIFFE identity per role); a plaintext
// client, a client without a certificate, one with a certificate from
// another CA and one that does not trust the server are refused at the
// handshake; a proper client works. Roles: security_test.cc.
#include <string>
#include <vector>

#include "arca/v1/compressor.grpc.pb.h"
#include "gtest/gtest.h"
#include "libs/hash/digest.h"
#include "libs/rpc/status_convert.h"
#include "services/common/client_channel.h"
#include "tests/distributed/service_process.h"

namespace arca::distributed {
namespace {

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_ = new std::string(NewTempDir("certs"));
    RunResult r = RunProgram({"/bin/sh", Runfile("tests/distributed/make_certs.sh"), *certs_});
    ASSERT_EQ(r.exit_code, 0) << r.Describe();
  }
  static void TearDownTestSuite() { delete certs_; }

  static std::string Cert(const std::string& name) { return *certs_ + "/" + name; }

  // Whether a health check through a channel with `tls` succeeds.
  static absl::Status Probe(const std::string& address, const services::ClientTlsFlags& tls) {
    auto channel = services::MakeChannel(address, tls);
    if (!channel.ok()) return channel.status();
    absl::StatusOr<bool> serving = services::CheckServing(*channel, "", absl::Seconds(20));
    if (!serving.ok()) return serving.status();
    return *serving ? absl::OkStatus() : absl::UnavailableError("not serving");
  }

  static void ExpectRefused(const std::string& address, const services::ClientTlsFlags& tls,
                            const std::string& what) {
    absl::Status st = Probe(address, tls);
    EXPECT_FALSE(st.ok()) << what << " was accepted";
    EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << what << ": " << st;
  }

  static std::string* certs_;
};

std::string* TlsTest::certs_ = nullptr;

TEST_F(TlsTest, ClientCertificatesAreRequiredAndVerified) {
  const std::string repo = NewTempDir("tls-repo") + "/r";
  RunResult init = RunProgram({Runfile("tools/arca/arca"), "init", "--repo", repo});
  ASSERT_EQ(init.exit_code, 0) << init.Describe();
  const std::vector<std::string> tls_flags = {"--tls-cert",      Cert("compressor.pem"),
                                              "--tls-key",       Cert("compressor.key"),
                                              "--tls-client-ca", Cert("ca.pem")};
  const std::vector<std::string> uploader_args = {"--repo",          repo,
                                                  "--tls-cert",      Cert("uploader.pem"),
                                                  "--tls-key",       Cert("uploader.key"),
                                                  "--tls-client-ca", Cert("ca.pem")};
  for (const auto& [binary, args] :
       {std::pair{Runfile("services/compressor/compressor"), tls_flags},
        std::pair{Runfile("services/uploader/uploader"), uploader_args}}) {
    SCOPED_TRACE(binary);
    auto server = ServiceProcess::Start(binary, args);
    ASSERT_TRUE(server.ok()) << server.status();
    const std::string address = (*server)->address();

    ExpectRefused(address, {.insecure = true}, "a plaintext client");
    ExpectRefused(address, {.ca = Cert("ca.pem")}, "a client without a certificate");
    ExpectRefused(
        address,
        {.ca = Cert("ca.pem"), .cert = Cert("other-client.pem"), .key = Cert("other-client.key")},
        "a client certificate from another CA");
    ExpectRefused(
        address,
        {.ca = Cert("other-ca.pem"), .cert = Cert("chunker.pem"), .key = Cert("chunker.key")},
        "a client that does not trust the server's CA");

    const services::ClientTlsFlags good = {
        .ca = Cert("ca.pem"), .cert = Cert("chunker.pem"), .key = Cert("chunker.key")};
    absl::Status st = Probe(address, good);
    EXPECT_TRUE(st.ok()) << st << "\n" << (*server)->Stderr();
    // The name in the certificate also works as the checked name.
    services::ClientTlsFlags by_name = good;
    by_name.server_name = "localhost";
    EXPECT_TRUE(Probe(address, by_name).ok());
    EXPECT_EQ((*server)->Stop(), 0) << (*server)->Stderr();
  }
}

TEST_F(TlsTest, ProperClientCanCompress) {
  auto server = ServiceProcess::Start(Runfile("services/compressor/compressor"),
                                      {"--tls-cert", Cert("compressor.pem"), "--tls-key",
                                       Cert("compressor.key"), "--tls-client-ca", Cert("ca.pem")});
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = services::MakeChannel(
      (*server)->address(),
      {.ca = Cert("ca.pem"), .cert = Cert("chunker.pem"), .key = Cert("chunker.key")});
  ASSERT_TRUE(channel.ok());
  auto stub = v1::Compressor::NewStub(*channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto stream = stub->Compress(&ctx);
  const std::string data(100000, 'q');
  v1::CompressRequest request;
  request.set_codec(v1::CODEC_ZSTD);
  request.set_level(3);
  request.mutable_chunk()->mutable_ref()->set_digest(std::string(Sha256(data).Raw()));
  request.mutable_chunk()->set_data(data);
  std::vector<v1::Blob> blobs;
  grpc::Status st = RunBidi<v1::CompressRequest, v1::Blob>(stream, {request}, &blobs);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(blobs.size(), 1u);
  EXPECT_LT(blobs[0].data().size(), 1000u);
}

TEST_F(TlsTest, TlsWithoutClientCertificatesIsRefusedAtStart) {
  RunResult r =
      RunProgram({Runfile("services/compressor/compressor"), "--listen=127.0.0.1:0", "--tls-cert",
                  Cert("compressor.pem"), "--tls-key", Cert("compressor.key")});
  EXPECT_EQ(r.exit_code, 2) << r.Describe();
  EXPECT_NE(r.err.find("--tls-cert needs --tls-client-ca"), std::string::npos) << r.Describe();
}

TEST_F(TlsTest, UnusableTlsFilesStopTheStartWithExit2) {
  const std::string compressor = Runfile("services/compressor/compressor");
  const std::vector<std::string> ca = {"--tls-client-ca", Cert("ca.pem")};
  RunResult r =
      RunProgram({compressor, "--listen=127.0.0.1:0", "--tls-cert", *certs_ + "/missing.pem",
                  "--tls-key", Cert("compressor.key"), ca[0], ca[1]});
  EXPECT_EQ(r.exit_code, 2) << r.Describe();
  EXPECT_NE(r.err.find(*certs_ + "/missing.pem"), std::string::npos) << r.Describe();
  // A key that does not belong to the certificate.
  r = RunProgram({compressor, "--listen=127.0.0.1:0", "--tls-cert", Cert("compressor.pem"),
                  "--tls-key", Cert("client.key"), ca[0], ca[1]});
  EXPECT_EQ(r.exit_code, 2) << r.Describe();
  EXPECT_NE(r.err.find("does not belong to the certificate"), std::string::npos) << r.Describe();
  // A CA bundle that holds no certificate.
  r = RunProgram({compressor, "--listen=127.0.0.1:0", "--tls-cert", Cert("compressor.pem"),
                  "--tls-key", Cert("compressor.key"), "--tls-client-ca", Cert("compressor.key")});
  EXPECT_EQ(r.exit_code, 2) << r.Describe();
  EXPECT_NE(r.err.find("no PEM certificate"), std::string::npos) << r.Describe();
}

}  // namespace
}  // namespace arca::distributed
