#include "libs/pipeline/bounded_queue.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace arca {
namespace {

TEST(BoundedQueue, DeliversEverythingInOrderAcrossThreads) {
  BoundedQueue<int> q(2);
  std::thread producer([&] {
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(q.Push(i));
    q.Close();
  });
  std::vector<int> got;
  while (auto v = q.Pop()) {
    EXPECT_LE(q.size(), 2u);
    got.push_back(*v);
  }
  producer.join();
  ASSERT_EQ(got.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(got[i], i);
}

TEST(BoundedQueue, PushAfterCloseFailsAndPopDrains) {
  BoundedQueue<int> q(4);
  EXPECT_TRUE(q.Push(1));
  q.Close();
  EXPECT_FALSE(q.Push(2));
  EXPECT_EQ(q.Pop(), 1);
  EXPECT_EQ(q.Pop(), std::nullopt);
}

}  // namespace
}  // namespace arca
