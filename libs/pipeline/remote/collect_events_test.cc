// The collector → chunker protocol against the in-process path: the same
// TreeCollector run (a) straight into an ArchiveBuilder and (b) through
// CollectEventSink → events → CollectEventApplier → ArchiveBuilder must give
// the same chunks, with and without a parent snapshot (injected chunks).
#include "libs/pipeline/remote/collect_events.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/base/phase_status.h"
#include "libs/chunker/chunker.h"
#include "libs/fs/file_system.h"
#include "libs/fs/tree_walker.h"
#include "libs/pipeline/archive_builder.h"
#include "libs/pipeline/backup.h"
#include "libs/pipeline/collector.h"
#include "libs/pipeline/parent_snapshot.h"

namespace arca {
namespace {

namespace stdfs = std::filesystem;

struct Seen {
  v1::StreamKind stream;
  uint64_t seq;
  uint64_t offset;
  Digest digest;
  uint64_t length;
  bool known;
  friend bool operator==(const Seen&, const Seen&) = default;
  friend std::ostream& operator<<(std::ostream& os, const Seen& s) {
    return os << "{stream " << s.stream << " #" << s.seq << " @" << s.offset << " "
              << s.digest.Hex().substr(0, 12) << " len " << s.length << (s.known ? " known" : "")
              << "}";
  }
};

class RecordingConsumer final : public ChunkConsumer {
 public:
  absl::Status Consume(PendingChunk c) override {
    seen.push_back({c.stream, c.seq, c.offset, c.known ? c.known_digest : Sha256(c.data.span()),
                    c.length(), c.known});
    return absl::OkStatus();
  }
  std::vector<Seen> seen;
};

class CollectEventsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = std::string(std::getenv("TEST_TMPDIR")) + "/" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    stdfs::remove_all(base_);
    src_ = base_ + "/src";
    stdfs::create_directories(src_ + "/d/e");
    std::mt19937_64 rng(7);
    auto data = [&](size_t n) {
      std::string s(n, '\0');
      for (size_t i = 0; i < n; ++i)
        s[i] = (i / 4096) % 2 ? static_cast<char>(rng()) : 'a' + rng() % 26;
      return s;
    };
    for (int i = 0; i < 300; ++i) {
      std::ofstream(absl::StrCat(src_, i % 2 ? "/d/" : "/d/e/", "f", i), std::ios::binary)
          << data(rng() % 20000);
    }
    std::ofstream(src_ + "/big1", std::ios::binary) << data(3u << 20);
    std::ofstream(src_ + "/big2", std::ios::binary) << data(5u << 20);
    std::ofstream(src_ + "/empty", std::ios::binary);
  }

  // Runs the collection into `sink`; returns the stats.
  v1::BackupStats Collect(ArchiveSink* sink, ParentSnapshot* parent) {
    v1::BackupStats stats;
    std::vector<v1::Warning> warnings;
    absl::StatusOr<std::unique_ptr<fs::TreeWalker>> walker =
        fs::TreeWalker::Open(fs::DefaultFileSystem(), src_, {});
    EXPECT_TRUE(walker.ok()) << walker.status();
    ReuseOptions reuse;
    reuse.parent = parent;
    TreeCollector collector(fs::DefaultFileSystem(), sink, nullptr, &stats, &warnings, reuse);
    absl::Status st = collector.Run(**walker);
    EXPECT_TRUE(st.ok()) << st;
    return stats;
  }

  std::vector<Seen> Direct(ParentSnapshot* parent, v1::BackupStats* stats) {
    RecordingConsumer out;
    ArchiveBuilder builder(ChunkerParams::PayloadDefault(), ChunkerParams::MetadataDefault(), 0,
                           &out);
    *stats = Collect(&builder, parent);
    EXPECT_TRUE(builder.Finish().ok());
    return out.seen;
  }

  // How ThroughEvents hands the sink's messages to the applier.
  enum class Via {
    kParsed,  // the whole encoding parsed by protobuf, then Apply
    kPieces,  // ApplyWire on the encoding cut into pieces at random places
  };

  std::vector<Seen> ThroughEvents(ParentSnapshot* parent, v1::BackupStats* stats,
                                  size_t batch_bytes, uint64_t* messages, Via via = Via::kPieces) {
    RecordingConsumer out;
    ArchiveBuilder builder(ChunkerParams::PayloadDefault(), ChunkerParams::MetadataDefault(), 0,
                           &out);
    CollectEventApplier applier(&builder);
    std::mt19937_64 rng(11);
    CollectEventSink sink(
        [&](const v1::CollectEvent& event, WireMessage wire) -> absl::Status {
          // The encoding is a valid CollectEvent with the events of `event`.
          const std::string flat = wire.Flatten();
          EXPECT_EQ(flat.size(), wire.size());
          v1::CollectEvent decoded;
          EXPECT_TRUE(decoded.ParseFromString(flat));
          EXPECT_EQ(decoded.event_case(), event.event_case());
          EXPECT_EQ(decoded.batch().events_size(), event.batch().events_size());
          for (int i = 0; i < decoded.batch().events_size() && i < event.batch().events_size();
               ++i) {
            EXPECT_EQ(decoded.batch().events(i).event_case(), event.batch().events(i).event_case());
          }
          if (via == Via::kParsed) return applier.Apply(decoded);
          // As gRPC might receive it: pieces of 1 byte to 64 KiB.
          std::vector<std::span<const uint8_t>> pieces;
          const auto* bytes = reinterpret_cast<const uint8_t*>(flat.data());
          for (size_t at = 0; at < flat.size();) {
            const size_t most = rng() % 2 ? 16 : 65536;
            const size_t n = std::min<size_t>(flat.size() - at, 1 + rng() % most);
            pieces.emplace_back(bytes + at, n);
            at += n;
          }
          return applier.ApplyWire(pieces);
        },
        batch_bytes);
    *stats = Collect(&sink, parent);
    v1::CollectDone done;
    *done.mutable_stats() = *stats;
    EXPECT_TRUE(sink.Finish(done).ok());
    EXPECT_TRUE(applier.done());
    EXPECT_EQ(applier.done_event().payload_length(), builder.payload_offset());
    EXPECT_TRUE(builder.Finish().ok());
    *messages = sink.messages();
    return out.seen;
  }

  std::string base_;
  std::string src_;
};

TEST_F(CollectEventsTest, EventsBuildTheSameArchiveAsTheInProcessPath) {
  v1::BackupStats direct_stats, event_stats;
  uint64_t messages = 0;
  // The first walk updates directory atimes (relatime); compare later walks.
  Direct(nullptr, &direct_stats);
  std::vector<Seen> direct = Direct(nullptr, &direct_stats);
  std::vector<Seen> events = ThroughEvents(nullptr, &event_stats, 1u << 20, &messages);
  ASSERT_GT(direct.size(), 5u);
  EXPECT_EQ(direct, events);
  EXPECT_EQ(direct_stats.SerializeAsString(), event_stats.SerializeAsString());
  // Decoded whole by protobuf instead: the same.
  EXPECT_EQ(direct, ThroughEvents(nullptr, &event_stats, 1u << 20, &messages, Via::kParsed));
  // ~9 MiB of data in ~1 MiB batches (plus done), not one message per file.
  EXPECT_LT(messages, 30u);
  // Tiny batches give the same archive too.
  std::vector<Seen> tiny = ThroughEvents(nullptr, &event_stats, 1, &messages);
  EXPECT_EQ(direct, tiny);
  EXPECT_GT(messages, 600u);
}

TEST_F(CollectEventsTest, ReusedChunksTravelAsInjectsAndGiveTheSameArchive) {
  v1::RepositoryConfig config;
  *config.mutable_payload_chunker() = ChunkerParams::PayloadDefault().ToProto();
  *config.mutable_metadata_chunker() = ChunkerParams::MetadataDefault().ToProto();
  config.set_default_codec(v1::CODEC_ZSTD);
  config.set_default_level(1);
  absl::StatusOr<std::unique_ptr<Repository>> repo = Repository::Init(base_ + "/repo", config);
  ASSERT_TRUE(repo.ok()) << repo.status();
  BackupOptions options;
  options.source = src_;
  options.host = "h";
  options.level = 1;
  BackupResult first = RunBackup(**repo, fs::DefaultFileSystem(), options, nullptr);
  ASSERT_TRUE(first.status.ok()) << first.status;
  // Change one small file so that the parent is used, but not for everything.
  std::ofstream(src_ + "/d/f1", std::ios::binary | std::ios::trunc) << "changed";

  v1::BackupStats direct_stats, event_stats;
  uint64_t messages = 0;
  absl::StatusOr<std::unique_ptr<ParentSnapshot>> p1 =
      ParentSnapshot::Open(**repo, first.manifest.id());
  ASSERT_TRUE(p1.ok()) << p1.status();
  std::vector<Seen> direct = Direct(p1->get(), &direct_stats);
  absl::StatusOr<std::unique_ptr<ParentSnapshot>> p2 =
      ParentSnapshot::Open(**repo, first.manifest.id());
  ASSERT_TRUE(p2.ok()) << p2.status();
  std::vector<Seen> events = ThroughEvents(p2->get(), &event_stats, 1u << 20, &messages);
  EXPECT_EQ(direct, events);
  EXPECT_GT(direct_stats.files_reused(), 250u);
  EXPECT_EQ(direct_stats.SerializeAsString(), event_stats.SerializeAsString());
  int known = 0;
  for (const Seen& s : events) known += s.known ? 1 : 0;
  EXPECT_GT(known, 3);
}

// --- malformed streams -------------------------------------------------------

class ApplierTest : public ::testing::Test {
 protected:
  ApplierTest()
      : builder_(ChunkerParams::PayloadDefault(), ChunkerParams::MetadataDefault(), 0, &out_),
        applier_(&builder_) {}

  absl::Status Data(const std::string& bytes) {
    v1::CollectEvent e;
    e.mutable_data()->set_data(bytes);
    return applier_.Apply(e);
  }

  void ExpectMalformed(v1::CollectEvent e, const std::string& fragment) {
    absl::Status st = applier_.Apply(e);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    EXPECT_NE(st.message().find(fragment), absl::string_view::npos) << st;
    EXPECT_EQ(PhaseOf(st), v1::PHASE_COLLECTION) << st;
  }

  RecordingConsumer out_;
  ArchiveBuilder builder_;
  CollectEventApplier applier_;
};

TEST_F(ApplierTest, EmptyEventIsRefused) { ExpectMalformed(v1::CollectEvent(), "nothing set"); }

TEST_F(ApplierTest, NestedBatchIsRefused) {
  v1::CollectEvent e;
  e.mutable_batch()->add_events()->mutable_batch();
  ExpectMalformed(e, "a batch inside a batch");
}

TEST_F(ApplierTest, EntryBeyondTheDataSentIsRefused) {
  ASSERT_TRUE(Data("abc").ok());
  v1::CollectEvent e;
  v1::Entry* entry = e.mutable_entry();
  entry->set_path("");
  entry->set_type(v1::ENTRY_TYPE_DIRECTORY);
  ASSERT_TRUE(applier_.Apply(e).ok());
  entry->set_path("f");
  entry->set_type(v1::ENTRY_TYPE_REGULAR);
  entry->set_size(4);
  entry->mutable_payload()->set_offset(0);
  entry->mutable_payload()->set_length(4);
  ExpectMalformed(e, "entry 'f' refers to payload bytes [0, 4) but only 3 were sent");
  // An overflowing reference too.
  entry->mutable_payload()->set_offset(~uint64_t{0});
  ExpectMalformed(e, "refers to payload bytes");
}

TEST_F(ApplierTest, BadInjectsAreRefused) {
  v1::CollectEvent e;
  e.mutable_inject()->set_digest("short");
  e.mutable_inject()->set_length(10);
  ExpectMalformed(e, "digest of 5 bytes");
  e.mutable_inject()->set_digest(std::string(32, 'x'));
  e.mutable_inject()->set_length(0);
  ExpectMalformed(e, "with length 0");
  e.mutable_inject()->set_length(uint64_t{1} << 40);
  ExpectMalformed(e, "with length 1099511627776");
  e.mutable_inject()->set_length(10);
  e.mutable_inject()->set_offset(5);
  ExpectMalformed(e, "expected at payload offset 5 but the stream is 0 bytes long");
  e.mutable_inject()->set_offset(0);
  EXPECT_TRUE(applier_.Apply(e).ok());
  EXPECT_EQ(builder_.payload_offset(), 10u);
}

TEST_F(ApplierTest, DoneMustMatchAndEndTheStream) {
  ASSERT_TRUE(Data("abcdef").ok());
  v1::CollectEvent done;
  done.mutable_done()->set_payload_length(5);
  ExpectMalformed(done, "done says the payload stream is 5 bytes long but 6 were sent");
  done.mutable_done()->set_payload_length(6);
  ASSERT_TRUE(applier_.Apply(done).ok());
  EXPECT_TRUE(applier_.done());
  v1::CollectEvent more;
  more.mutable_data()->set_data("x");
  ExpectMalformed(more, "an event after done");
}

TEST_F(ApplierTest, CommandOutputMustHaveBeenSent) {
  ASSERT_TRUE(Data("out").ok());
  v1::CollectEvent e;
  v1::CommandResult* c = e.mutable_command()->mutable_result();
  c->set_name("dump");
  c->mutable_payload()->set_offset(0);
  c->mutable_payload()->set_length(3);
  ASSERT_TRUE(applier_.Apply(e).ok());
  c->mutable_payload()->set_length(4);
  ExpectMalformed(e, "command 'dump' refers to payload bytes [0, 4)");
  EXPECT_EQ(applier_.TakeCommands().size(), 1u);
}

TEST_F(ApplierTest, InvalidEntryIsAnArchiveError) {
  v1::CollectEvent e;
  e.mutable_entry()->set_path("/abs");
  e.mutable_entry()->set_type(v1::ENTRY_TYPE_DIRECTORY);
  absl::Status st = applier_.Apply(e);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_EQ(PhaseOf(st), v1::PHASE_ARCHIVE) << st;
}

// --- ApplyWire: messages in pieces ---------------------------------------------

// The messages a sink emits for: data "hello", an entry, data of `n` bytes,
// then done.
std::vector<std::string> SinkMessages(size_t n) {
  std::vector<std::string> out;
  CollectEventSink sink(
      [&](const v1::CollectEvent&, WireMessage wire) {
        out.push_back(wire.Flatten());
        return absl::OkStatus();
      },
      1u << 20);
  auto write = [&](const std::string& bytes) {
    uint8_t* dst = sink.ReservePayload(bytes.size());
    std::memcpy(dst, bytes.data(), bytes.size());
    return sink.CommitPayload(bytes.size());
  };
  EXPECT_TRUE(write("hello").ok());
  v1::Entry e;
  e.set_path("f");
  e.set_type(v1::ENTRY_TYPE_REGULAR);
  e.mutable_payload()->set_offset(0);
  e.mutable_payload()->set_length(5);
  e.set_size(5);
  EXPECT_TRUE(sink.AddEntry(e).ok());
  EXPECT_TRUE(write(std::string(n, 'z')).ok());
  EXPECT_TRUE(sink.Finish(v1::CollectDone()).ok());
  return out;
}

absl::Status ApplyFlat(CollectEventApplier& applier, const std::string& message) {
  std::span<const uint8_t> piece(reinterpret_cast<const uint8_t*>(message.data()), message.size());
  return applier.ApplyWire(std::span<const std::span<const uint8_t>>(&piece, 1));
}

TEST_F(ApplierTest, WireBatchDataReachesTheSink) {
  std::vector<std::string> messages = SinkMessages(1000);
  ASSERT_EQ(messages.size(), 2u);  // one batch, done
  for (const std::string& m : messages) {
    absl::Status st = ApplyFlat(applier_, m);
    ASSERT_TRUE(st.ok()) << st;
  }
  EXPECT_TRUE(applier_.done());
  EXPECT_EQ(applier_.entries(), 1u);
  EXPECT_EQ(applier_.data_bytes(), 1005u);
  EXPECT_EQ(builder_.payload_offset(), 1005u);
}

TEST_F(ApplierTest, WireMessagesCutShortAreRefusedAtEveryLength) {
  const std::string batch = SinkMessages(300)[0];
  for (size_t cut = 1; cut < batch.size(); ++cut) {
    RecordingConsumer out;
    ArchiveBuilder builder(ChunkerParams::PayloadDefault(), ChunkerParams::MetadataDefault(), 0,
                           &out);
    CollectEventApplier applier(&builder);
    absl::Status st = ApplyFlat(applier, batch.substr(0, cut));
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << "cut at " << cut << ": " << st;
    EXPECT_EQ(PhaseOf(st), v1::PHASE_COLLECTION) << st;
  }
}

TEST_F(ApplierTest, WireGarbageIsRefusedWithoutCrashing) {
  std::mt19937_64 rng(5);
  const std::string batch = SinkMessages(100)[0];
  int refused = 0;
  for (int i = 0; i < 2000; ++i) {
    RecordingConsumer out;
    ArchiveBuilder builder(ChunkerParams::PayloadDefault(), ChunkerParams::MetadataDefault(), 0,
                           &out);
    CollectEventApplier applier(&builder);
    std::string m = batch;
    // Flip a few bytes of a real batch, or send random bytes.
    if (i % 2 == 0) {
      for (int k = 0; k < 3; ++k) m[rng() % m.size()] = static_cast<char>(rng());
    } else {
      m.resize(rng() % 64);
      for (char& c : m) c = static_cast<char>(rng());
    }
    absl::Status st = ApplyFlat(applier, m);
    if (!st.ok()) {
      ++refused;
      EXPECT_TRUE(st.code() == absl::StatusCode::kInvalidArgument) << st;
    }
  }
  EXPECT_GT(refused, 1000);
}

TEST_F(ApplierTest, WireDataAfterDoneIsRefused) {
  std::vector<std::string> messages = SinkMessages(10);
  ASSERT_TRUE(ApplyFlat(applier_, messages[0]).ok());
  ASSERT_TRUE(ApplyFlat(applier_, messages[1]).ok());
  absl::Status st = ApplyFlat(applier_, messages[0]);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find("an event after done"), absl::string_view::npos) << st;
}

TEST_F(ApplierTest, WireNestedBatchIsRefused) {
  v1::CollectEvent e;
  e.mutable_batch()->add_events()->mutable_batch();
  absl::Status st = ApplyFlat(applier_, e.SerializeAsString());
  EXPECT_NE(st.message().find("a batch inside a batch"), absl::string_view::npos) << st;
}

}  // namespace
}  // namespace arca
