#include "decode_slots.h"

#include <sched.h>

#include <algorithm>

namespace speakerd {

DecodeSlots::DecodeSlots(int slots) : slots_(std::max(slots, 1)), free_(slots_) {}

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

void DecodeSlots::Acquire() {
  std::unique_lock<std::mutex> lock(mutex_);
  const uint64_t ticket = next_ticket_++;
  changed_.wait(lock, [&] { return ticket == admitted_ && free_ > 0; });
  ++admitted_;
  --free_;
  lock.unlock();
  // The next in line may find a slot free too.
  changed_.notify_all();
}

void DecodeSlots::Release() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++free_;
  }
  changed_.notify_all();
}

void DecodeSlots::Yield() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (next_ticket_ == admitted_) return;  // nobody waits
  }
  Release();
  Acquire();
}

}  // namespace speakerd
