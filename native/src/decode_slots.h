// How many decode threads may decode at the same moment: one fewer than the
// CPUs the process may run on, and at least one. However many compressed
// uploads arrive unpaced, decoding then leaves a CPU to the JS thread (which
// reads every socket and answers the probes) and the playback thread.
//
// Nice 10 alone did not do that: the kernel preempts a running nice-10
// thread for a woken nice-0 one only at its next tick, so with 8 unpaced
// decodes on 2 CPUs the JS thread waited for a CPU up to 8.5 ms at a time
// (perf sched), 70-110 ms of every second, and the event loop's delay was
// 4.3-8.5 ms at p99 (docs/decisions.md, "Compressed audio").
//
// A thread holds a slot only while it decodes: it gives it up before it
// sleeps (for body bytes or for room in its ring), and between packets once
// it has held it for a slice while another thread waits. Slots are granted
// first come, first served and handed straight to the next in line, which
// alone is woken, so a stream that decodes without pause cannot starve
// another. A paced stream decodes a packet in well under a millisecond, far
// inside the second of audio its ring holds, so waiting for a slot never
// makes it late.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>

namespace speakerd {

class DecodeSlots {
 public:
  // A holder yields to a waiting thread once it has held its slot this long:
  // fair, without a hand-over (two context switches) per packet.
  static constexpr int64_t kDefaultSliceNs = 1'000'000;

  explicit DecodeSlots(int slots, int64_t slice_ns = kDefaultSliceNs);
  DecodeSlots(const DecodeSlots&) = delete;
  DecodeSlots& operator=(const DecodeSlots&) = delete;

  // The process's slots, sized by its CPU affinity when first used.
  static DecodeSlots& Shared();
  static int SlotsForThisProcess();

  // A holder's hold on its slot, for Yield. Each thread keeps its own.
  struct Hold {
    int64_t since_ns = 0;
  };

  // Waits for a slot, in the order of asking.
  void Acquire(Hold* hold);
  void Release();
  // Between packets: once the slice is used up, hands the slot to the
  // thread that has waited longest, if any, and queues for the next one.
  void Yield(Hold* hold);

 private:
  struct Waiter {
    std::condition_variable granted_cv;
    bool granted = false;
  };
  // Under mutex_: the slot goes to the first waiter, or back to the free ones.
  void HandOverLocked();
  void WaitLocked(std::unique_lock<std::mutex>& lock);

  const int64_t slice_ns_;
  std::mutex mutex_;
  int free_;                     // under mutex_
  std::deque<Waiter*> waiters_;  // under mutex_: in the order they asked
};

}  // namespace speakerd
