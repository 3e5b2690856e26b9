// A blocking multi-producer multi-consumer FIFO with a capacity: producers wait when it is full, so a fast stage
// never runs far ahead of a slow one (bounded memory). Close() wakes everyone; Pop then drains what is left.
// A consumer that only acts on batches (a committer) can ask to be woken per batch, not per item: with
// `wake_consumer_at` n > 1, a Pop that sleeps on an empty queue is woken when n items are queued, the queue is
// closed, or a Push asks to wake it now (a spurious wake-up may return it earlier); a Pop on a non-empty queue never
// waits. Likewise a producer that only needs to keep the queue from running dry (a reader) can be woken when it has
// room for a burst: with `wake_producer_at` m < capacity - 1, a Push that sleeps on a full queue is woken when at
// most m items are left (or the queue is closed). Each wake-up of a sleeping thread costs a context switch on a core
// that another stage was using.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>

namespace doppel {

template <typename T>
class BoundedQueue {
 public:
  // wake_consumer_at is clamped to 1..capacity (a full queue always wakes its consumer), wake_producer_at to
  // 0..capacity - 1 (the default: any free slot wakes a producer; an empty queue always does).
  explicit BoundedQueue(size_t capacity, size_t wake_consumer_at = 1, size_t wake_producer_at = SIZE_MAX)
      : capacity_(capacity ? capacity : 1),
        wake_at_(wake_consumer_at < 1 ? 1 : wake_consumer_at > capacity_ ? capacity_ : wake_consumer_at),
        refill_at_(wake_producer_at > capacity_ - 1 ? capacity_ - 1 : wake_producer_at) {}

  // False if the queue was closed (the item is dropped). `wake_now`: wake a waiting consumer even if fewer than
  // wake_consumer_at items are queued (an item that must not wait for a batch).
  bool Push(T item, bool wake_now = false) {
    std::unique_lock<std::mutex> lock(mu_);
    not_full_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
    if (closed_) return false;
    items_.push_back(std::move(item));
    // A consumer asleep on an empty queue is woken at the batch (it then drains what is queued without waiting).
    if (wake_now || items_.size() >= wake_at_) not_empty_.notify_one();
    return true;
  }

  // Waits for an item (on an empty queue: for wake_consumer_at items or a wake-up, see above); nullopt once the queue
  // is closed and empty.
  std::optional<T> Pop() {
    std::unique_lock<std::mutex> lock(mu_);
    not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    if (items_.size() <= refill_at_) not_full_.notify_one();
    return item;
  }

  // An item if one is queued now; never waits.
  std::optional<T> TryPop() {
    std::lock_guard<std::mutex> lock(mu_);
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    if (items_.size() <= refill_at_) not_full_.notify_one();
    return item;
  }

  // Items queued now, and whether Close was called (then no more will come).
  size_t Size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return items_.size();
  }
  bool Closed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }

  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }

 private:
  const size_t capacity_;
  const size_t wake_at_;    // a consumer asleep on an empty queue is woken at this many items
  const size_t refill_at_;  // a producer asleep on a full queue is woken at this many items or fewer
  mutable std::mutex mu_;
  std::condition_variable not_empty_, not_full_;
  std::deque<T> items_;
  bool closed_ = false;
};

}  // namespace doppel
