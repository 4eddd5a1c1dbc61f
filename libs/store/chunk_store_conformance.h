// The conformance suite every ChunkStore implementation passes (TEST_P over
// `Implementation`s): included by chunk_store_test.cc (local, memory,
// fault injection) and s3_repository_test.cc (S3 on a real RGW), each of
// which instantiates it with its own implementations. Test-only.
#ifndef ARCA_LIBS_STORE_CHUNK_STORE_CONFORMANCE_H_
#define ARCA_LIBS_STORE_CHUNK_STORE_CONFORMANCE_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libs/hash/digest.h"
#include "libs/store/chunk_store.h"

namespace arca {
namespace conformance {

using ::testing::HasSubstr;

inline std::string Blob(int i, size_t size = 100) {
  std::string s(size, '\0');
  uint64_t x = 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(i + 1);
  for (size_t k = 0; k < size; ++k) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s[k] = static_cast<char>(x);
  }
  return s;
}

inline Digest D(std::string_view blob) { return Sha256(blob); }

// Owns a store under test and whatever it is built on.
struct StoreUnderTest {
  std::unique_ptr<ChunkStore> base;
  std::unique_ptr<ChunkStore> store;
  ChunkStore* get() { return store ? store.get() : base.get(); }
};

struct Implementation {
  std::string name;
  std::function<StoreUnderTest()> make;
};

class ChunkStoreConformance : public ::testing::TestWithParam<Implementation> {
 protected:
  void SetUp() override { sut_ = GetParam().make(); }
  ChunkStore* store() { return sut_.get(); }

  std::map<Digest, uint64_t> All() {
    std::map<Digest, uint64_t> all;
    absl::Status st = store()->ForEach([&](const Digest& d, uint64_t size) {
      EXPECT_TRUE(all.emplace(d, size).second) << "reported twice: " << d.Hex();
      return absl::OkStatus();
    });
    EXPECT_TRUE(st.ok()) << st;
    return all;
  }

  StoreUnderTest sut_;
};

TEST_P(ChunkStoreConformance, PutHasGet) {
  const std::string blob = Blob(1);
  const Digest d = D(blob);
  EXPECT_FALSE(store()->Has(d).value());
  EXPECT_TRUE(store()->Put(d, blob).value());
  EXPECT_TRUE(store()->Has(d).value());
  EXPECT_EQ(store()->Get(d).value(), blob);
  ASSERT_TRUE(store()->Flush().ok());
  EXPECT_TRUE(store()->Has(d).value());
  EXPECT_EQ(store()->Get(d).value(), blob);
}

TEST_P(ChunkStoreConformance, EmptyAndLargeBlobs) {
  const std::string empty;
  const std::string large = Blob(7, 5 << 20);
  EXPECT_TRUE(store()->Put(D(empty), empty).value());
  EXPECT_TRUE(store()->Put(D(large), large).value());
  EXPECT_EQ(store()->Get(D(empty)).value(), empty);
  EXPECT_EQ(store()->Get(D(large)).value(), large);
  ASSERT_TRUE(store()->Flush().ok());
  EXPECT_EQ(store()->Get(D(empty)).value(), empty);
  EXPECT_EQ(store()->Get(D(large)).value(), large);
}

TEST_P(ChunkStoreConformance, PutIsIdempotentAndKeepsTheFirstBlob) {
  const std::string blob = Blob(2);
  const Digest d = D(blob);
  EXPECT_TRUE(store()->Put(d, blob).value());
  EXPECT_FALSE(store()->Put(d, blob).value());
  // Content-addressed: a second Put under the same digest never overwrites.
  EXPECT_FALSE(store()->Put(d, "other bytes").value());
  ASSERT_TRUE(store()->Flush().ok());
  EXPECT_FALSE(store()->Put(d, blob).value());
  EXPECT_EQ(store()->Get(d).value(), blob);
  EXPECT_EQ(All().size(), 1u);
}

TEST_P(ChunkStoreConformance, GetMissingIsNotFoundNamingTheChunk) {
  const Digest d = D("never stored");
  absl::StatusOr<std::string> got = store()->Get(d);
  ASSERT_EQ(got.status().code(), absl::StatusCode::kNotFound) << got.status();
  EXPECT_THAT(got.status().message(),
              HasSubstr(absl::StrCat("chunk ", d.Hex(), " is missing from")));
}

TEST_P(ChunkStoreConformance, RemoveDeletesAndMissingIsNotFound) {
  const std::string a = Blob(3), b = Blob(4);
  ASSERT_TRUE(store()->Put(D(a), a).ok());
  ASSERT_TRUE(store()->Flush().ok());
  ASSERT_TRUE(store()->Put(D(b), b).ok());  // still pending in batching stores
  ASSERT_TRUE(store()->Remove(D(a)).ok());
  ASSERT_TRUE(store()->Remove(D(b)).ok());
  EXPECT_FALSE(store()->Has(D(a)).value());
  EXPECT_FALSE(store()->Has(D(b)).value());
  EXPECT_EQ(store()->Get(D(a)).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store()->Flush().ok());
  EXPECT_FALSE(store()->Has(D(b)).value());
  absl::Status st = store()->Remove(D(a));
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound) << st;
  EXPECT_THAT(st.message(), HasSubstr(D(a).Hex()));
  EXPECT_TRUE(All().empty());
  // Removed chunks can be stored again.
  EXPECT_TRUE(store()->Put(D(a), a).value());
  EXPECT_EQ(store()->Get(D(a)).value(), a);
}

TEST_P(ChunkStoreConformance, ForEachReportsEveryChunkWithItsSize) {
  std::map<Digest, uint64_t> want;
  for (int i = 0; i < 50; ++i) {
    const std::string blob = Blob(100 + i, 10 + i * 7);
    want[D(blob)] = blob.size();
    ASSERT_TRUE(store()->Put(D(blob), blob).value());
    if (i == 20) {
      ASSERT_TRUE(store()->Flush().ok());
    }
  }
  EXPECT_EQ(All(), want);  // flushed and pending alike
  ASSERT_TRUE(store()->Flush().ok());
  EXPECT_EQ(All(), want);
}

TEST_P(ChunkStoreConformance, ForEachStopsAtTheFirstError) {
  for (int i = 0; i < 5; ++i) {
    const std::string blob = Blob(200 + i);
    ASSERT_TRUE(store()->Put(D(blob), blob).ok());
  }
  ASSERT_TRUE(store()->Flush().ok());
  int calls = 0;
  absl::Status st = store()->ForEach([&](const Digest&, uint64_t) {
    ++calls;
    return absl::CancelledError("stop here");
  });
  EXPECT_EQ(st.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(st.message(), "stop here");
  EXPECT_EQ(calls, 1);
}

TEST_P(ChunkStoreConformance, ConcurrentPutsOfTheSameDigestsWriteEachOnce) {
  constexpr int kThreads = 6, kChunks = 150;
  std::vector<std::string> blobs;
  for (int i = 0; i < kChunks; ++i) blobs.push_back(Blob(300 + i, 2000));
  std::vector<std::atomic<int>> written(kChunks);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kChunks; ++k) {
        int i = (k + t * 17) % kChunks;  // different orders, same digests
        absl::StatusOr<bool> put = store()->Put(D(blobs[i]), blobs[i]);
        if (!put.ok()) {
          ++errors;
        } else if (*put) {
          ++written[i];
        }
        if (k % 50 == 49 && t == 0 && !store()->Flush().ok()) ++errors;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  for (int i = 0; i < kChunks; ++i) EXPECT_EQ(written[i].load(), 1) << i;
  ASSERT_TRUE(store()->Flush().ok());
  for (int i = 0; i < kChunks; ++i) {
    EXPECT_EQ(store()->Get(D(blobs[i])).value(), blobs[i]);
  }
  EXPECT_EQ(All().size(), static_cast<size_t>(kChunks));
}

TEST_P(ChunkStoreConformance, ReadersSeeWholeBlobsWhileOthersWriteAndFlush) {
  constexpr int kChunks = 200;
  std::vector<std::string> blobs;
  for (int i = 0; i < kChunks; ++i) blobs.push_back(Blob(600 + i, 3000 + i));
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::thread writer([&] {
    for (int i = 0; i < kChunks; ++i) {
      if (!store()->Put(D(blobs[i]), blobs[i]).ok()) ++bad;
      if (i % 25 == 0 && !store()->Flush().ok()) ++bad;
    }
    done = true;
  });
  std::thread reader([&] {
    while (!done) {
      for (int i = 0; i < kChunks; ++i) {
        absl::StatusOr<bool> has = store()->Has(D(blobs[i]));
        if (!has.ok()) ++bad;
        if (!has.ok() || !*has) continue;
        absl::StatusOr<std::string> got = store()->Get(D(blobs[i]));
        if (!got.ok() || *got != blobs[i]) ++bad;
      }
    }
  });
  writer.join();
  reader.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace conformance
}  // namespace arca

#endif  // ARCA_LIBS_STORE_CHUNK_STORE_CONFORMANCE_H_
