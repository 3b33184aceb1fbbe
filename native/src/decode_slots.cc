#include "decode_slots.h"

#include <sched.h>
#include <time.h>

#include <algorithm>

namespace speakerd {

namespace {
int64_t MonotonicNs() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}
}  // namespace

DecodeSlots::DecodeSlots(int slots, int64_t slice_ns)
    : slice_ns_(slice_ns), free_(std::max(slots, 1)) {}

int DecodeSlots::SlotsForThisProcess() {
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  if (sched_getaffinity(0, sizeof cpus, &cpus) != 0) return 1;
  return std::max(CPU_COUNT(&cpus) - 1, 1);
}

DecodeSlots& DecodeSlots::Shared() {
  // Never destroyed: a decode thread may still release its slot while the
  // process exits.
  static DecodeSlots* shared = new DecodeSlots(SlotsForThisProcess());
  return *shared;
}

void DecodeSlots::WaitLocked(std::unique_lock<std::mutex>& lock) {
  Waiter me;
  waiters_.push_back(&me);
  me.granted_cv.wait(lock, [&] { return me.granted; });
}

void DecodeSlots::HandOverLocked() {
  if (waiters_.empty()) {
    ++free_;
    return;
  }
  Waiter* next = waiters_.front();
  waiters_.pop_front();
  next->granted = true;
  // Under the lock: `next` lives on its thread's stack until it sees granted.
  next->granted_cv.notify_one();
}

void DecodeSlots::Acquire(Hold* hold) {
  {
    std::unique_lock<std::mutex> lock(mutex_);
    if (free_ > 0 && waiters_.empty()) {
      --free_;
    } else {
      WaitLocked(lock);
    }
  }
  hold->since_ns = MonotonicNs();
}

void DecodeSlots::Release() {
  std::lock_guard<std::mutex> lock(mutex_);
  HandOverLocked();
}

void DecodeSlots::Yield(Hold* hold) {
  if (MonotonicNs() - hold->since_ns < slice_ns_) return;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    if (waiters_.empty()) {
      hold->since_ns = MonotonicNs();  // nobody waits: a new slice
      return;
    }
    HandOverLocked();
    WaitLocked(lock);
  }
  hold->since_ns = MonotonicNs();
}

}  // namespace speakerd
