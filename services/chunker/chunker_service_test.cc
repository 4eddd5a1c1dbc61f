// ChunkerService with the three services it drives, all in this process on
// one loopback server: backups and a restore, then the chunker's metrics
// (arca_chunker_*) compared with the jobs' statistics. tests/distributed runs
// the real binaries.
#include "services/chunker/chunker_service.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "libs/chunker/chunker.h"
#include "libs/metrics/registry.h"
#include "libs/metrics/testing.h"
#include "libs/store/repository.h"
#include "prometheus/registry.h"
#include "services/collector/collector_service.h"
#include "services/compressor/compressor_service.h"
#include "services/uploader/uploader_service.h"

namespace arca::services {
namespace {

using metrics::testing::GaugeReaches;
using metrics::testing::MetricValue;

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

class ChunkerServiceTest : public ::testing::Test {
 protected:
  // ChunkerHashFirstTest: the chunker hashes every chunk (--hash-first).
  virtual bool CompressFirst() const { return true; }

  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    root_ = std::string(tmp ? tmp : "/tmp") + "/chunker_service_test." +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_ + "/src/sub");
    v1::RepositoryConfig config;
    config.set_default_codec(v1::CODEC_ZSTD);
    config.set_default_level(3);
    *config.mutable_payload_chunker() = ChunkerParams::PayloadDefault().ToProto();
    *config.mutable_metadata_chunker() = ChunkerParams::MetadataDefault().ToProto();
    auto repo = Repository::Init(root_ + "/repo", config);
    ASSERT_TRUE(repo.ok()) << repo.status();
    repo_ = *std::move(repo);
    CollectorOptions collector_options;
    collector_options.peer_tls.insecure = true;  // reads the parent from the uploader
    // The collector's reach (default deny): the test's directory.
    const std::string canonical_root = std::filesystem::canonical(root_).string();
    collector_options.source_roots = {canonical_root};
    collector_options.restore_roots = {canonical_root};
    collector_ = std::make_unique<CollectorService>(collector_options);
    compressor_ = std::make_unique<CompressorService>(CompressorOptions{.threads = 2});
    uploader_ = std::make_unique<UploaderService>(repo_.get(), UploaderOptions{.threads = 2});
    ChunkerOptions options;
    options.peer_tls.insecure = true;
    options.hash_threads = 2;
    options.compress_first = CompressFirst();
    chunker_ = std::make_unique<ChunkerService>(options);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.SetMaxReceiveMessageSize(80 << 20);
    builder.SetMaxSendMessageSize(80 << 20);
    for (grpc::Service* s : std::vector<grpc::Service*>{collector_.get(), compressor_.get(),
                                                        uploader_.get(), chunker_.get()}) {
      builder.RegisterService(s);
    }
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    address_ = "127.0.0.1:" + std::to_string(port);
    stub_ = v1::Chunker::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  void Write(const std::string& rel, const std::string& data) {
    std::ofstream(root_ + "/src/" + rel, std::ios::binary) << data;
  }

  // Reads a stage stream to its end: the result event, or nullopt (status in
  // *st).
  static std::optional<v1::StageResult> Drain(grpc::ClientReader<v1::StageEvent>* reader,
                                              grpc::Status* st) {
    v1::StageEvent e;
    std::optional<v1::StageResult> result;
    while (reader->Read(&e)) {
      if (e.has_result()) result = e.result();
    }
    *st = reader->Finish();
    return result;
  }

  // Runs a backup of `source`; the result event, or nullopt (status in *st).
  std::optional<v1::StageResult> Backup(const std::string& source, grpc::Status* st) {
    v1::BackupPlan plan;
    plan.set_job_id("t");
    plan.set_source(source);
    plan.set_host("h");
    plan.set_metadata_change_detection(true);
    plan.set_collector(address_);
    plan.add_compressors(address_);
    plan.add_uploaders(address_);
    grpc::ClientContext ctx;
    return Drain(stub_->RunBackup(&ctx, plan).get(), st);
  }

  // Runs a restore of `snapshot` into `target`, as Backup.
  std::optional<v1::StageResult> Restore(const std::string& snapshot, const std::string& target,
                                         grpc::Status* st) {
    v1::RestorePlan plan;
    plan.set_job_id("r");
    plan.set_snapshot(snapshot);
    plan.set_target(target);
    plan.set_collector(address_);
    plan.add_compressors(address_);
    plan.add_uploaders(address_);
    grpc::ClientContext ctx;
    return Drain(stub_->RunRestore(&ctx, plan).get(), st);
  }

  std::string root_;
  std::unique_ptr<Repository> repo_;
  std::unique_ptr<CollectorService> collector_;
  std::unique_ptr<CompressorService> compressor_;
  std::unique_ptr<UploaderService> uploader_;
  std::unique_ptr<ChunkerService> chunker_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::unique_ptr<v1::Chunker::Stub> stub_;
};

struct ChunkerCounters {
  double input, chunks, new_chunks, new_bytes, dedup, reused, padding, restored;
  static ChunkerCounters Read() {
    return {MetricValue("arca_chunker_input_bytes_total"),
            MetricValue("arca_chunker_chunks_total"),
            MetricValue("arca_chunker_new_chunks_total"),
            MetricValue("arca_chunker_new_bytes_total"),
            MetricValue("arca_chunker_deduplicated_bytes_total"),
            MetricValue("arca_chunker_reused_bytes_total"),
            MetricValue("arca_chunker_padding_bytes_total"),
            MetricValue("arca_chunker_restored_bytes_total")};
  }
};

TEST_F(ChunkerServiceTest, CountersMatchTheBackupStatisticsAndTheRestore) {
  // Large enough to be aligned to chunk boundaries: the copy's chunks are
  // the same as the original's.
  const std::string shared = RandomBytes(4 << 20, 1);
  Write("a", shared);
  Write("sub/a-copy", shared);  // deduplicated within the job
  Write("b", RandomBytes(200000, 2));
  Write("small", "hello");

  ChunkerCounters before = ChunkerCounters::Read();
  grpc::Status st;
  std::optional<v1::StageResult> first = Backup(root_ + "/src", &st);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_TRUE(first.has_value());
  const v1::BackupStats& s1 = first->stats();
  ChunkerCounters after = ChunkerCounters::Read();
  EXPECT_EQ(after.chunks - before.chunks, s1.chunks_total());
  EXPECT_EQ(after.new_chunks - before.new_chunks, s1.chunks_new());
  EXPECT_EQ(after.new_bytes - before.new_bytes, s1.bytes_new_raw());
  EXPECT_EQ(after.dedup - before.dedup, s1.bytes_deduplicated());
  EXPECT_GE(s1.bytes_deduplicated(), 1u);
  EXPECT_EQ(after.input - before.input, s1.bytes_new_raw() + s1.bytes_deduplicated());
  EXPECT_EQ(after.reused - before.reused, 0);

  // Again, unchanged: files are reused from the parent (change detection).
  before = after;
  std::optional<v1::StageResult> second = Backup(root_ + "/src", &st);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_TRUE(second.has_value());
  const v1::BackupStats& s2 = second->stats();
  ASSERT_GT(s2.bytes_reused(), 0u);
  after = ChunkerCounters::Read();
  EXPECT_EQ(after.reused - before.reused, s2.bytes_reused());
  EXPECT_EQ(after.padding - before.padding, s2.padding_bytes());
  EXPECT_EQ(after.chunks - before.chunks, s2.chunks_total());
  EXPECT_EQ(after.new_chunks - before.new_chunks, s2.chunks_new());
  EXPECT_EQ(after.dedup - before.dedup, s2.bytes_deduplicated());

  // A restore: the payload bytes sent to the collector.
  before = after;
  std::optional<v1::StageResult> restored = Restore(second->snapshot(), root_ + "/out", &st);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_TRUE(restored.has_value());
  EXPECT_EQ(restored->bytes(), 2 * shared.size() + 200000 + 5);
  EXPECT_EQ(ChunkerCounters::Read().restored - before.restored, restored->bytes());

  EXPECT_TRUE(GaugeReaches("arca_chunker_chunks_in_flight", 0));
  EXPECT_TRUE(GaugeReaches("arca_chunker_streams_running", 0));
}

TEST_F(ChunkerServiceTest, CompressFirstSwitchesToHashFirstWhenChunksRepeat) {
  // 120 copies of one 1 MiB file (aligned to chunk boundaries, so the same
  // chunks each time) and 2 MiB of unique data.
  const std::string copy = RandomBytes(1 << 20, 3);
  for (int i = 0; i < 120; ++i) Write("copy" + std::to_string(i), copy);
  Write("unique", RandomBytes(2 << 20, 4));
  const double raw_before =
      MetricValue("arca_compressor_raw_bytes_total", {{"op", "compress"}, {"codec", "zstd"}});
  grpc::Status st;
  std::optional<v1::StageResult> result = Backup(root_ + "/src", &st);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_TRUE(result.has_value());
  const v1::BackupStats& s = result->stats();
  EXPECT_EQ(s.bytes_new_raw() + s.bytes_deduplicated(), (122ull << 20) + s.metadata_bytes())
      << s.DebugString();
  EXPECT_GE(s.bytes_deduplicated(), 119ull << 20);
  const double compressed =
      MetricValue("arca_compressor_raw_bytes_total", {{"op", "compress"}, {"codec", "zstd"}}) -
      raw_before;
  // Compress-first compressed the first duplicates (before the writer saw
  // that more than 1/8 of the chunks repeat), then hash-first skipped the
  // rest: far less than the 122 MiB a compress-everything writer would do.
  EXPECT_GE(compressed, s.bytes_new_raw());
  EXPECT_LT(compressed, 60.0 * (1 << 20)) << "the writer did not switch to hash-first";

  // Everything restores to the same bytes.
  Restore(result->snapshot(), root_ + "/out", &st);
  ASSERT_TRUE(st.ok()) << st.error_message();
  std::ifstream in(root_ + "/out/copy77", std::ios::binary);
  const std::string back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(back == copy);
}

class ChunkerHashFirstTest : public ChunkerServiceTest {
 protected:
  bool CompressFirst() const override { return false; }
};

TEST_F(ChunkerHashFirstTest, OnlyNewChunksReachTheCompressor) {
  const std::string copy = RandomBytes(1 << 20, 5);
  for (int i = 0; i < 10; ++i) Write("copy" + std::to_string(i), copy);
  Write("unique", RandomBytes(300000, 6));
  const double raw_before =
      MetricValue("arca_compressor_raw_bytes_total", {{"op", "compress"}, {"codec", "zstd"}});
  grpc::Status st;
  std::optional<v1::StageResult> result = Backup(root_ + "/src", &st);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_TRUE(result.has_value());
  const v1::BackupStats& s = result->stats();
  EXPECT_GE(s.bytes_deduplicated(), 9ull << 20);
  // Hashed here first: duplicates never travel to a compressor.
  EXPECT_EQ(
      MetricValue("arca_compressor_raw_bytes_total", {{"op", "compress"}, {"codec", "zstd"}}) -
          raw_before,
      s.bytes_new_raw());
  EXPECT_GT(s.phase_seconds().at("hash_cpu"), 0);
}

TEST_F(ChunkerServiceTest, FailedBackupCountsAnErrorUnderItsPhase) {
  const std::map<std::string, std::string> collection{{"phase", "collection"}, {"exit_code", "9"}};
  const double errors = MetricValue("arca_chunker_errors_total", collection);
  grpc::Status st;
  std::optional<v1::StageResult> result = Backup(root_ + "/does-not-exist", &st);
  EXPECT_FALSE(result.has_value());
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND) << st.error_message();
  EXPECT_EQ(MetricValue("arca_chunker_errors_total", collection) - errors, 1);
  EXPECT_TRUE(GaugeReaches("arca_chunker_chunks_in_flight", 0));
  EXPECT_TRUE(GaugeReaches("arca_chunker_streams_running", 0));
}

}  // namespace
}  // namespace arca::services
