// CollectorService in-process (a real gRPC server on an in-process channel):
// what its metrics count after a Collect of a small tree, a failed Collect
// and a WriteTree; its reach (--source-root, --restore-root, --commands-file
// as CollectorOptions): what it refuses, and that nothing is read, written
// or run then. tests/distributed runs the binaries.
#include "services/collector/collector_service.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "libs/base/phase_status.h"
#include "libs/metrics/registry.h"
#include "libs/metrics/testing.h"
#include "libs/rpc/status_convert.h"
#include "prometheus/registry.h"

namespace arca::services {
namespace {

using metrics::testing::GaugeReaches;
using metrics::testing::MetricValue;

class CollectorServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    root_ = std::string(tmp ? tmp : "/tmp") + "/collector_service_test." +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_ + "/src/sub");
    std::filesystem::create_directories(root_ + "/restore");
    std::filesystem::create_directories(root_ + "/outside");
    root_ = std::filesystem::canonical(root_).string();
    std::ofstream(root_ + "/outside/secret") << "not for the network";
    CollectorOptions options;
    options.source_roots = {root_ + "/src"};
    options.restore_roots = {root_ + "/restore"};
    options.commands = {{"marker", "touch " + root_ + "/marker-ran; echo marked"},
                        {"hello", "echo hello"}};
    StartServer(std::move(options));
  }
  void TearDown() override { StopServer(); }

  void StartServer(CollectorOptions options) {
    service_ = std::make_unique<CollectorService>(std::move(options));
    grpc::ServerBuilder builder;
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    stub_ = v1::Collector::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
  }
  void StopServer() {
    server_->Shutdown();
    server_->Wait();
  }

  void Write(const std::string& rel, const std::string& data) {
    std::ofstream(root_ + "/src/" + rel, std::ios::binary) << data;
  }

  // Runs Collect; counts the entries sent by type and keeps the final stats.
  grpc::Status Collect(const std::string& source, std::map<int, int>* entries,
                       v1::BackupStats* stats) {
    v1::CollectRequest req;
    req.set_source(source);
    return Collect(req, entries, stats);
  }
  grpc::Status Collect(const v1::CollectRequest& req, std::map<int, int>* entries,
                       v1::BackupStats* stats, int* events = nullptr) {
    grpc::ClientContext ctx;
    auto reader = stub_->Collect(&ctx, req);
    v1::CollectEvent e;
    std::function<void(const v1::CollectEvent&)> visit = [&](const v1::CollectEvent& ev) {
      if (ev.has_entry()) ++(*entries)[ev.entry().type()];
      if (ev.has_done()) *stats = ev.done().stats();
      if (ev.has_batch()) {
        for (const auto& item : ev.batch().events()) visit(item);
      }
    };
    while (reader->Read(&e)) {
      if (events != nullptr) ++*events;
      visit(e);
    }
    return reader->Finish();
  }

  // Opens a WriteTree to `target` and sends one regular file "f" in a root
  // directory.
  grpc::Status WriteTree(const std::string& target, v1::WriteTreeResponse* resp) {
    grpc::ClientContext ctx;
    auto writer = stub_->WriteTree(&ctx, resp);
    v1::WriteTreeRequest m;
    m.mutable_target()->set_target(target);
    m.mutable_target()->set_job_id("t");
    writer->Write(m);
    m.Clear();
    m.mutable_entry()->set_type(v1::ENTRY_TYPE_DIRECTORY);
    m.mutable_entry()->set_mode(0755);
    writer->Write(m);
    m.Clear();
    m.mutable_entry()->set_path("f");
    m.mutable_entry()->set_type(v1::ENTRY_TYPE_REGULAR);
    m.mutable_entry()->set_mode(0644);
    m.mutable_entry()->set_size(11);
    m.mutable_entry()->mutable_payload()->set_length(11);
    writer->Write(m);
    m.Clear();
    m.mutable_data()->set_data("hello world");
    writer->Write(m);
    writer->WritesDone();
    return writer->Finish();
  }

  grpc::Status Estimate(const std::string& source) {
    grpc::ClientContext ctx;
    v1::CollectRequest req;
    req.set_source(source);
    v1::CollectEstimate resp;
    return stub_->EstimateCollect(&ctx, req, &resp);
  }

  std::string root_;
  std::unique_ptr<CollectorService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Collector::Stub> stub_;
};

TEST_F(CollectorServiceTest, CollectCountsEntriesByTypeAndTheJobsReadBytes) {
  Write("a", std::string(10000, 'a'));
  Write("sub/b", std::string(2345, 'b'));
  Write("empty", "");
  ASSERT_EQ(symlink("a", (root_ + "/src/link").c_str()), 0);
  const double files = MetricValue("arca_collector_entries_total", {{"type", "file"}});
  const double dirs = MetricValue("arca_collector_entries_total", {{"type", "directory"}});
  const double links = MetricValue("arca_collector_entries_total", {{"type", "symlink"}});
  const double read = MetricValue("arca_collector_read_bytes_total");
  const double reused = MetricValue("arca_collector_reused_bytes_total");
  const std::map<std::string, std::string> collection{{"phase", "collection"}, {"exit_code", "9"}};
  const double errors = MetricValue("arca_collector_errors_total", collection);

  std::map<int, int> entries;
  v1::BackupStats stats;
  grpc::Status st = Collect(root_ + "/src", &entries, &stats);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(entries[v1::ENTRY_TYPE_REGULAR], 3);
  ASSERT_EQ(entries[v1::ENTRY_TYPE_DIRECTORY], 2);  // the root and sub
  ASSERT_EQ(entries[v1::ENTRY_TYPE_SYMLINK], 1);
  ASSERT_EQ(stats.bytes_read(), 12345u);
  EXPECT_EQ(MetricValue("arca_collector_entries_total", {{"type", "file"}}) - files, 3);
  EXPECT_EQ(MetricValue("arca_collector_entries_total", {{"type", "directory"}}) - dirs, 2);
  EXPECT_EQ(MetricValue("arca_collector_entries_total", {{"type", "symlink"}}) - links, 1);
  EXPECT_EQ(MetricValue("arca_collector_read_bytes_total") - read, 12345);
  EXPECT_EQ(MetricValue("arca_collector_reused_bytes_total") - reused, 0);
  EXPECT_EQ(MetricValue("arca_collector_errors_total", collection) - errors, 0);

  // A source that does not exist: NOT_FOUND, phase collection, exit 9.
  entries.clear();
  st = Collect(root_ + "/src/missing", &entries, &stats);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND) << st.error_message();
  EXPECT_EQ(MetricValue("arca_collector_errors_total", collection) - errors, 1);
  EXPECT_TRUE(GaugeReaches("arca_collector_streams_running", 0));
}

TEST_F(CollectorServiceTest, CollectRequestThatDoesNotParseIsInvalidArgument) {
  // Bytes that are not a CollectRequest (a length-delimited field 1 claiming
  // more bytes than follow), sent by a raw client: refused, and the service
  // keeps serving.
  const grpc::internal::RpcMethod method("/arca.v1.Collector/Collect",
                                         grpc::internal::RpcMethod::SERVER_STREAMING);
  std::shared_ptr<grpc::Channel> channel = server_->InProcessChannel(grpc::ChannelArguments());
  grpc::ClientContext ctx;
  const std::string garbage(
      "\x0a\x7f"
      "abc",
      5);
  grpc::Slice slice(garbage.data(), garbage.size());
  grpc::ByteBuffer request(&slice, 1);
  std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader(
      grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(channel.get(), method, &ctx,
                                                                    request));
  grpc::ByteBuffer event;
  EXPECT_FALSE(reader->Read(&event));
  grpc::Status st = reader->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_NE(st.error_message().find("not a CollectRequest"), std::string::npos)
      << st.error_message();

  Write("a", "still serving");
  std::map<int, int> entries;
  v1::BackupStats stats;
  st = Collect(root_ + "/src", &entries, &stats);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(stats.bytes_read(), 13u);
}

TEST_F(CollectorServiceTest, WriteTreeCountsEntriesAndBytesWrittenAndErrors) {
  const double entries = MetricValue("arca_collector_written_entries_total");
  const double bytes = MetricValue("arca_collector_written_bytes_total");
  const std::map<std::string, std::string> restore{{"phase", "restore"}, {"exit_code", "13"}};
  const double errors = MetricValue("arca_collector_errors_total", restore);
  {
    grpc::ClientContext ctx;
    v1::WriteTreeResponse resp;
    auto writer = stub_->WriteTree(&ctx, &resp);
    v1::WriteTreeRequest m;
    m.mutable_target()->set_target(root_ + "/restore/out");
    m.mutable_target()->set_job_id("t");
    ASSERT_TRUE(writer->Write(m));
    m.Clear();
    m.mutable_entry()->set_type(v1::ENTRY_TYPE_DIRECTORY);
    m.mutable_entry()->set_mode(0755);
    ASSERT_TRUE(writer->Write(m));
    m.Clear();
    m.mutable_entry()->set_path("f");
    m.mutable_entry()->set_type(v1::ENTRY_TYPE_REGULAR);
    m.mutable_entry()->set_mode(0644);
    m.mutable_entry()->set_size(11);
    m.mutable_entry()->mutable_payload()->set_length(11);
    ASSERT_TRUE(writer->Write(m));
    m.Clear();
    m.mutable_data()->set_data("hello world");
    ASSERT_TRUE(writer->Write(m));
    writer->WritesDone();
    grpc::Status st = writer->Finish();
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_EQ(resp.bytes_written(), 11u);
    EXPECT_EQ(MetricValue("arca_collector_written_entries_total") - entries,
              resp.entries_written());
    EXPECT_GE(resp.entries_written(), 1u);
    EXPECT_EQ(MetricValue("arca_collector_written_bytes_total") - bytes, 11);
  }
  {
    // No target first: INVALID_ARGUMENT, phase restore, exit 13.
    grpc::ClientContext ctx;
    v1::WriteTreeResponse resp;
    auto writer = stub_->WriteTree(&ctx, &resp);
    v1::WriteTreeRequest m;
    m.mutable_data()->set_data("x");
    writer->Write(m);
    writer->WritesDone();
    EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(MetricValue("arca_collector_errors_total", restore) - errors, 1);
  }
  EXPECT_TRUE(GaugeReaches("arca_collector_streams_running", 0));
}

// A damaged file given up by the chunker (`abandon`): its prefix stays, the
// stream goes on; `abandon` with no regular file open is refused.
TEST_F(CollectorServiceTest, WriteTreeAbandonGivesUpTheCurrentFileAndRefusesOtherwise) {
  auto entry = [](const std::string& path, v1::EntryType type, uint64_t size) {
    v1::WriteTreeRequest m;
    m.mutable_entry()->set_path(path);
    m.mutable_entry()->set_type(type);
    m.mutable_entry()->set_mode(type == v1::ENTRY_TYPE_DIRECTORY ? 0755 : 0644);
    m.mutable_entry()->set_size(size);
    m.mutable_entry()->mutable_payload()->set_length(size);
    return m;
  };
  auto data = [](const std::string& d) {
    v1::WriteTreeRequest m;
    m.mutable_data()->set_data(d);
    return m;
  };
  auto abandon = [](const std::string& why) {
    v1::WriteTreeRequest m;
    m.set_abandon(why);
    return m;
  };
  const std::string out = root_ + "/restore/abandoned";
  {
    grpc::ClientContext ctx;
    v1::WriteTreeResponse resp;
    auto writer = stub_->WriteTree(&ctx, &resp);
    v1::WriteTreeRequest m;
    m.mutable_target()->set_target(out);
    ASSERT_TRUE(writer->Write(m));
    ASSERT_TRUE(writer->Write(entry("", v1::ENTRY_TYPE_DIRECTORY, 0)));
    ASSERT_TRUE(writer->Write(entry("bad", v1::ENTRY_TYPE_REGULAR, 11)));
    ASSERT_TRUE(writer->Write(data("hello")));
    ASSERT_TRUE(writer->Write(abandon("chunk damaged")));
    v1::WriteTreeRequest batch;
    *batch.mutable_batch()->add_items() = entry("good", v1::ENTRY_TYPE_REGULAR, 3);
    *batch.mutable_batch()->add_items() = data("abc");
    ASSERT_TRUE(writer->Write(batch));
    writer->WritesDone();
    grpc::Status st = writer->Finish();
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(resp.entries_abandoned(), 1u);
    EXPECT_EQ(resp.bytes_written(), 8u);
    EXPECT_EQ(std::filesystem::file_size(out + "/bad"), 5u);
    EXPECT_EQ(std::filesystem::file_size(out + "/good"), 3u);
  }
  // Malformed: abandon first, after a directory, twice for one file.
  const std::vector<std::vector<v1::WriteTreeRequest>> bad = {
      {abandon("x")},
      {entry("", v1::ENTRY_TYPE_DIRECTORY, 0), abandon("x")},
      {entry("f", v1::ENTRY_TYPE_REGULAR, 3), abandon("x"), abandon("y")},
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    SCOPED_TRACE(i);
    grpc::ClientContext ctx;
    v1::WriteTreeResponse resp;
    auto writer = stub_->WriteTree(&ctx, &resp);
    v1::WriteTreeRequest m;
    m.mutable_target()->set_target(root_ + "/restore/malformed" + std::to_string(i));
    writer->Write(m);
    for (const v1::WriteTreeRequest& item : bad[i]) writer->Write(item);
    writer->WritesDone();
    grpc::Status st = writer->Finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
    EXPECT_NE(st.error_message().find("abandon without a regular file entry"), std::string::npos)
        << st.error_message();
    EXPECT_EQ(PhaseOf(rpc::FromGrpcStatus(st)), v1::PHASE_RESTORE);
  }
}

// The phase and exit code a gRPC status carries (services/common).
void ExpectRefused(const grpc::Status& st, v1::Phase phase, const std::string& fragment) {
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  EXPECT_EQ(PhaseOf(rpc::FromGrpcStatus(st)), phase) << st.error_message();
  EXPECT_NE(st.error_message().find(fragment), std::string::npos) << st.error_message();
}

TEST_F(CollectorServiceTest, CollectAndEstimateOutsideTheSourceRootsArePermissionDenied) {
  Write("a", "inside");
  ASSERT_EQ(symlink((root_ + "/outside").c_str(), (root_ + "/src/link-out").c_str()), 0);
  std::filesystem::create_directories(root_ + "/src2");  // a sibling with the root as prefix
  const std::string roots = "outside the collector's --source-root directories (" + root_ +
                            "/src): start the collector with --source-root";
  for (const std::string& source :
       {root_ + "/outside", root_ + "/src/../outside", root_ + "/src/link-out",
        root_ + "/src/link-out/secret", root_ + "/src2", root_, std::string("/etc")}) {
    SCOPED_TRACE(source);
    std::map<int, int> entries;
    v1::BackupStats stats;
    int events = 0;
    v1::CollectRequest req;
    req.set_source(source);
    grpc::Status st = Collect(req, &entries, &stats, &events);
    ExpectRefused(st, v1::PHASE_COLLECTION, "source '" + source + "'");
    EXPECT_NE(st.error_message().find(roots), std::string::npos) << st.error_message();
    EXPECT_EQ(events, 0) << "nothing is sent for a refused source";
    EXPECT_EQ(ExitCodeOf(rpc::FromGrpcStatus(st)), ExitCode::kCollection);
    ExpectRefused(Estimate(source), v1::PHASE_COLLECTION, roots);
  }
  // Inside the root (also through "..") it is served.
  std::map<int, int> entries;
  v1::BackupStats stats;
  grpc::Status st = Collect(root_ + "/src/sub/..", &entries, &stats);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(stats.bytes_read(), 6u);
  EXPECT_TRUE(Estimate(root_ + "/src").ok());
}

TEST_F(CollectorServiceTest, MissingParentChunksMustBe32ByteDigestsAndAtMost65536) {
  Write("a", "data");
  auto expect_invalid = [&](const v1::CollectRequest& req, const std::string& what) {
    std::map<int, int> entries;
    v1::BackupStats stats;
    int events = 0;
    grpc::Status st = Collect(req, &entries, &stats, &events);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
    EXPECT_NE(st.error_message().find(what), std::string::npos) << st.error_message();
    EXPECT_EQ(PhaseOf(rpc::FromGrpcStatus(st)), v1::PHASE_COLLECTION);
    EXPECT_EQ(events, 0) << "refused before anything is read";
  };
  v1::CollectRequest req;
  req.set_source(root_ + "/src");
  req.add_missing_parent_chunks(std::string(32, 'x'));
  req.add_missing_parent_chunks("short");
  expect_invalid(req, "CollectRequest.missing_parent_chunks #1 is 5 bytes; expected a 32-byte");
  req.clear_missing_parent_chunks();
  for (size_t i = 0; i <= kMaxMissingParentChunks; ++i) {
    req.add_missing_parent_chunks(std::string(32, 'x'));
  }
  expect_invalid(req, "lists 65537 digests; at most 65536");
  // Well-formed, without a parent: ignored.
  req.clear_missing_parent_chunks();
  req.add_missing_parent_chunks(std::string(32, 'x'));
  std::map<int, int> entries;
  v1::BackupStats stats;
  grpc::Status st = Collect(req, &entries, &stats);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(stats.bytes_read(), 4u);
}

TEST_F(CollectorServiceTest, WriteTreeOutsideTheRestoreRootsIsPermissionDeniedAndWritesNothing) {
  ASSERT_EQ(symlink((root_ + "/outside").c_str(), (root_ + "/restore/link-out").c_str()), 0);
  const std::string roots = "outside the collector's --restore-root directories (" + root_ +
                            "/restore): start the collector with --restore-root";
  for (const std::string& target :
       {root_ + "/outside/t", root_ + "/restore/../outside/t", root_ + "/restore/link-out",
        root_ + "/restore/link-out/t", root_ + "/restore/new/../../outside/t",
        root_ + "/restore2/t", std::string("/root/.ssh")}) {
    SCOPED_TRACE(target);
    v1::WriteTreeResponse resp;
    grpc::Status st = WriteTree(target, &resp);
    ExpectRefused(st, v1::PHASE_RESTORE, "restore target '" + target + "'");
    EXPECT_NE(st.error_message().find(roots), std::string::npos) << st.error_message();
    EXPECT_EQ(ExitCodeOf(rpc::FromGrpcStatus(st)), ExitCode::kRestore);
    EXPECT_EQ(resp.entries_written(), 0u);
  }
  // Nothing was created outside: the outside directory holds only its
  // secret, and no sibling appeared.
  int outside = 0;
  for (const auto& e : std::filesystem::directory_iterator(root_ + "/outside")) {
    EXPECT_EQ(e.path().filename(), "secret");
    ++outside;
  }
  EXPECT_EQ(outside, 1);
  EXPECT_FALSE(std::filesystem::exists(root_ + "/restore2"));
  EXPECT_FALSE(std::filesystem::exists(root_ + "/restore/new"));
  // A target that does not exist yet, inside the root, is written.
  v1::WriteTreeResponse resp;
  grpc::Status st = WriteTree(root_ + "/restore/deep/er", &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.bytes_written(), 11u);
  EXPECT_TRUE(std::filesystem::exists(root_ + "/restore/deep/er/f"));
}

TEST_F(CollectorServiceTest, WithoutRootsEveryCollectAndWriteTreeIsRefused) {
  StopServer();
  StartServer(CollectorOptions{});
  Write("a", "x");
  std::map<int, int> entries;
  v1::BackupStats stats;
  ExpectRefused(Collect(root_ + "/src", &entries, &stats), v1::PHASE_COLLECTION,
                "the collector was started without --source-root, so it allows none; start the "
                "collector with --source-root DIR");
  ExpectRefused(Estimate(root_ + "/src"), v1::PHASE_COLLECTION, "without --source-root");
  v1::WriteTreeResponse resp;
  ExpectRefused(WriteTree(root_ + "/restore/t", &resp), v1::PHASE_RESTORE,
                "the collector was started without --restore-root");
  EXPECT_FALSE(std::filesystem::exists(root_ + "/restore/t"));
}

TEST_F(CollectorServiceTest, CommandsComeOnlyByNameFromTheCommandsFile) {
  Write("a", "x");
  const std::string marker = root_ + "/marker-ran";
  std::map<int, int> entries;
  v1::BackupStats stats;
  int events = 0;
  v1::CollectRequest req;
  req.set_source(root_ + "/src");
  // A command line in the request: refused, even under a known name.
  v1::Command* c = req.add_commands();
  c->set_name("marker");
  c->set_command_line("id > " + marker);
  ExpectRefused(Collect(req, &entries, &stats, &events), v1::PHASE_COLLECTION,
                "command 'marker' carries a command line: the collector runs only commands from "
                "its --commands-file; send the name");
  EXPECT_EQ(events, 0);
  EXPECT_FALSE(std::filesystem::exists(marker));
  // A known name before an unknown one: nothing runs at all.
  c->clear_command_line();
  req.add_commands()->set_name("rootkit");
  ExpectRefused(Collect(req, &entries, &stats, &events), v1::PHASE_COLLECTION,
                "unknown command 'rootkit': the collector's --commands-file defines hello, marker");
  EXPECT_EQ(events, 0);
  EXPECT_FALSE(std::filesystem::exists(marker)) << "a known command ran before the refusal";
  // Known names only: the file's command line runs.
  req.mutable_commands()->RemoveLast();
  grpc::Status st = Collect(req, &entries, &stats);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_TRUE(std::filesystem::exists(marker));
}

}  // namespace
}  // namespace arca::services
