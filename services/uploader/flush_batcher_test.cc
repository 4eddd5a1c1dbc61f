#include "services/uploader/flush_batcher.h"

#include <atomic>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "libs/store/chunk_store.h"

namespace arca::services {
namespace {

TEST(FlushBatcherTest, FlushSoonFlushesEveryPendingPutTogether) {
  MemoryChunkStore memory;
  FaultInjectionChunkStore store(&memory);
  std::atomic<int> ok{0};
  absl::Notification all;
  {
    FlushBatcher batcher(&store, {.max_pending_bytes = 1ull << 40, .max_delay = absl::Hours(1)});
    for (int i = 0; i < 10; ++i) {
      batcher.AfterPut(10, false, [&](absl::Status st) {
        if (st.ok() && ++ok == 10) all.Notify();
      });
    }
    EXPECT_FALSE(all.WaitForNotificationWithTimeout(absl::Milliseconds(200)))
        << "flushed before any trigger";
    batcher.FlushSoon();
    EXPECT_TRUE(all.WaitForNotificationWithTimeout(absl::Seconds(30)));
    EXPECT_EQ(batcher.flushes(), 1u);
  }
  EXPECT_EQ(store.flushes(), 1u);
}

TEST(FlushBatcherTest, UrgentPutAndByteThresholdTrigger) {
  MemoryChunkStore store;
  FlushBatcher batcher(&store, {.max_pending_bytes = 100, .max_delay = absl::Hours(1)});
  absl::Notification urgent, bytes;
  batcher.AfterPut(1, true, [&](absl::Status) { urgent.Notify(); });
  EXPECT_TRUE(urgent.WaitForNotificationWithTimeout(absl::Seconds(30)));
  batcher.AfterPut(60, false, [&](absl::Status) { bytes.Notify(); });
  batcher.AfterPut(60, false, [](absl::Status) {});
  EXPECT_TRUE(bytes.WaitForNotificationWithTimeout(absl::Seconds(30)));
}

TEST(FlushBatcherTest, DelayTriggers) {
  MemoryChunkStore store;
  FlushBatcher batcher(&store,
                       {.max_pending_bytes = 1ull << 40, .max_delay = absl::Milliseconds(50)});
  absl::Notification done;
  batcher.AfterPut(1, false, [&](absl::Status) { done.Notify(); });
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
}

TEST(FlushBatcherTest, FlushErrorReachesEveryCallback) {
  MemoryChunkStore memory;
  FaultInjectionChunkStore store(&memory);
  store.FailFlush(absl::ResourceExhaustedError("disk full"));
  FlushBatcher batcher(&store, {.max_pending_bytes = 1, .max_delay = absl::Hours(1)});
  std::vector<absl::Status> got(3);
  std::atomic<int> n{0};
  absl::Notification all;
  for (int i = 0; i < 3; ++i) {
    batcher.AfterPut(0, false, [&, i](absl::Status st) {
      got[i] = st;
      if (++n == 3) all.Notify();
    });
  }
  batcher.FlushSoon();
  ASSERT_TRUE(all.WaitForNotificationWithTimeout(absl::Seconds(30)));
  for (const absl::Status& st : got) {
    EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_EQ(st.message(), "disk full");
  }
}

TEST(FlushBatcherTest, DestructorRunsPendingCallbacks) {
  MemoryChunkStore store;
  bool called = false;
  {
    FlushBatcher batcher(&store, {.max_pending_bytes = 1ull << 40, .max_delay = absl::Hours(1)});
    batcher.AfterPut(1, false, [&](absl::Status st) { called = st.ok(); });
  }
  EXPECT_TRUE(called);
}

}  // namespace
}  // namespace arca::services
