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
// sleeps (for body bytes or for room in its ring) and after every packet
// if another thread waits, and slots are granted first come, first served,
// so a stream that decodes without pause cannot starve another. A paced
// stream decodes a packet in well under a millisecond, far inside the
// second of audio its ring holds, so waiting for a slot never makes it late.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace speakerd {

class DecodeSlots {
 public:
  explicit DecodeSlots(int slots);
  DecodeSlots(const DecodeSlots&) = delete;
  DecodeSlots& operator=(const DecodeSlots&) = delete;

  // The process's slots, sized by its CPU affinity when first used.
  static DecodeSlots& Shared();
  static int SlotsForThisProcess();

  // Waits for a slot, in the order of asking.
  void Acquire();
  void Release();
  // Between packets: if another thread waits, hands it the slot and queues
  // for the next one.
  void Yield();

  int slots() const { return slots_; }

 private:
  const int slots_;
  std::mutex mutex_;
  std::condition_variable changed_;
  int free_;                  // under mutex_
  uint64_t next_ticket_ = 0;  // under mutex_: the next thread to ask gets this
  uint64_t admitted_ = 0;     // under mutex_: tickets below this hold or held a slot
};

}  // namespace speakerd
