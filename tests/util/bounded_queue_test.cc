// BoundedQueue: FIFO order, capacity, Close, and the consumer woken per batch (wake_consumer_at).
#include "doppel/util/bounded_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace doppel {
namespace {

using namespace std::chrono_literals;

TEST(BoundedQueue, FifoAndCloseDrains) {
  BoundedQueue<int> q(4);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(q.Push(i));
  q.Close();
  EXPECT_FALSE(q.Push(9));  // closed: dropped
  for (int i = 0; i < 4; ++i) EXPECT_EQ(q.Pop(), i);
  EXPECT_EQ(q.Pop(), std::nullopt);
}

TEST(BoundedQueue, FullQueueBlocksItsProducerUntilAPop) {
  BoundedQueue<int> q(2);
  ASSERT_TRUE(q.Push(1));
  ASSERT_TRUE(q.Push(2));
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    q.Push(3);
    pushed = true;
  });
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(pushed.load());
  EXPECT_EQ(q.Pop(), 1);
  producer.join();
  EXPECT_TRUE(pushed.load());
  EXPECT_EQ(q.Size(), 2u);
}

// A consumer asleep on an empty queue with wake_consumer_at 4 sleeps through 3 pushes, wakes at the 4th and then
// drains without waiting; a Push with wake_now and Close wake it early.
TEST(BoundedQueue, SleepingConsumerIsWokenPerBatch) {
  BoundedQueue<int> q(16, 4);
  std::vector<int> got;
  std::atomic<int> taken{0};
  std::thread consumer([&] {
    while (auto x = q.Pop()) {
      got.push_back(*x);
      ++taken;
    }
  });
  std::this_thread::sleep_for(50ms);  // the consumer is asleep on the empty queue
  for (int i = 0; i < 3; ++i) q.Push(i);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(taken.load(), 0) << "woken before the batch was complete";
  EXPECT_EQ(q.Size(), 3u);
  q.Push(3);  // the batch: it wakes and drains all four
  for (int spin = 0; spin < 500 && taken.load() < 4; ++spin) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(taken.load(), 4);
  EXPECT_EQ(q.Size(), 0u);
  q.Push(4, /*wake_now=*/true);  // one item that must not wait for a batch
  for (int spin = 0; spin < 500 && taken.load() < 5; ++spin) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(taken.load(), 5);
  q.Push(5);  // below the batch: delivered by Close
  std::this_thread::sleep_for(50ms);
  q.Close();
  consumer.join();
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4, 5}));
}

// A producer asleep on a full queue with wake_producer_at 2 (capacity 6) is woken only when 2 items are left, then
// fills the queue again in one burst.
TEST(BoundedQueue, SleepingProducerIsWokenForABurst) {
  BoundedQueue<int> q(6, 1, 2);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(q.Push(i));
  std::atomic<int> pushed{0};
  std::thread producer([&] {
    for (int i = 6; i < 12; ++i) {
      q.Push(i);
      ++pushed;
    }
  });
  std::this_thread::sleep_for(50ms);  // asleep on the full queue
  EXPECT_EQ(q.Pop(), 0);
  EXPECT_EQ(q.Pop(), 1);
  EXPECT_EQ(q.Pop(), 2);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(pushed.load(), 0) << "woken with 3 items left";
  EXPECT_EQ(q.Pop(), 3);  // 2 left: the producer is woken and refills up to the capacity
  for (int spin = 0; spin < 500 && pushed.load() < 4; ++spin) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(pushed.load(), 4);
  EXPECT_EQ(q.Size(), 6u);
  q.Close();
  producer.join();
  std::vector<int> rest;
  while (auto x = q.Pop()) rest.push_back(*x);
  EXPECT_EQ(rest, (std::vector<int>{4, 5, 6, 7, 8, 9}));
}

// The batch is clamped to the capacity, so producers blocked on a full queue always have a consumer awake.
TEST(BoundedQueue, BatchLargerThanCapacityStillDelivers) {
  BoundedQueue<int> q(3, 100);
  std::atomic<int> taken{0};
  std::thread consumer([&] {
    while (q.Pop()) ++taken;
  });
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(q.Push(i));  // would deadlock if the consumer waited for 100
  for (int spin = 0; spin < 500 && taken.load() < 28; ++spin) std::this_thread::sleep_for(10ms);
  EXPECT_GE(taken.load(), 27);
  q.Close();
  consumer.join();
  EXPECT_EQ(taken.load(), 30);
}

}  // namespace
}  // namespace doppel
