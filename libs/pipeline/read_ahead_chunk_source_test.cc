#include "libs/pipeline/read_ahead_chunk_source.h"

#include <atomic>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "libs/hash/digest.h"

namespace arca {
namespace {

// Chunks "chunk-<i>" by digest; counts fetches; can fail one digest.
class FakeSource final : public ChunkSource {
 public:
  explicit FakeSource(int n) {
    for (int i = 0; i < n; ++i) {
      std::string data = absl::StrCat("chunk-", i, "-", std::string(i % 7 + 1, 'x'));
      Digest d = Sha256(data);
      chunks_.push_back({d, data});
      index_.Append(d, data.size());
    }
  }
  absl::StatusOr<std::shared_ptr<const std::string>> GetChunk(const Digest& digest,
                                                              uint64_t) override {
    fetches_.fetch_add(1);
    absl::SleepFor(latency_);  // a round trip
    if (fail_.has_value() && *fail_ == digest) return absl::DataLossError("bad chunk");
    for (const auto& [d, data] : chunks_) {
      if (d == digest) return std::make_shared<const std::string>(data);
    }
    return absl::NotFoundError("no such chunk");
  }
  const ChunkIndex& index() const { return index_; }
  const std::vector<std::pair<Digest, std::string>>& chunks() const { return chunks_; }
  int fetches() const { return fetches_.load(); }
  std::optional<Digest> fail_;
  absl::Duration latency_ = absl::Milliseconds(2);

 private:
  std::vector<std::pair<Digest, std::string>> chunks_;
  ChunkIndex index_;
  std::atomic<int> fetches_{0};
};

TEST(ReadAheadChunkSource, SequentialReadsAreServedFromTheWindow) {
  FakeSource inner(40);
  ReadAheadChunkSource ra(&inner.index(), &inner, 4, 2);
  for (int i = 0; i < 40; ++i) {
    const auto& [d, data] = inner.chunks()[i];
    absl::StatusOr<std::shared_ptr<const std::string>> got = ra.GetChunk(d, data.size());
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(**got, data);
  }
  // The background threads fetch ahead while the reader waits on one chunk.
  EXPECT_GT(ra.hits(), 20u);
  EXPECT_LE(inner.fetches(), 40 + 5);
}

TEST(ReadAheadChunkSource, JumpsAndOutOfWindowRequestsStillWork) {
  FakeSource inner(100);
  ReadAheadChunkSource ra(&inner.index(), &inner, 3, 3);
  for (int i : {0, 1, 50, 51, 52, 10, 99, 98}) {
    const auto& [d, data] = inner.chunks()[i];
    if (i == 50) ra.ExpectOffset(inner.index().ChunkStart(50));
    absl::StatusOr<std::shared_ptr<const std::string>> got = ra.GetChunk(d, data.size());
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(**got, data) << i;
  }
}

TEST(ReadAheadChunkSource, ErrorsOfTheInnerSourceArePassedOn) {
  FakeSource inner(10);
  inner.fail_ = inner.chunks()[3].first;
  ReadAheadChunkSource ra(&inner.index(), &inner, 4, 2);
  for (int i = 0; i < 10; ++i) {
    const auto& [d, data] = inner.chunks()[i];
    absl::StatusOr<std::shared_ptr<const std::string>> got = ra.GetChunk(d, data.size());
    if (i == 3) {
      EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss);
    } else {
      ASSERT_TRUE(got.ok()) << got.status();
    }
  }
}

}  // namespace
}  // namespace arca
