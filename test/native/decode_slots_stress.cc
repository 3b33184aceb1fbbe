// DecodeSlots (native/src/decode_slots.h) under ThreadSanitizer: however
// many threads ask, no more than `slots` hold one at a time; a thread that
// yields lets a waiting one in before it gets its slot back; and every
// thread gets through (first come, first served: none starves).
//
//   decode_slots_stress SLOTS THREADS ROUNDS
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "decode_slots.h"

using speakerd::DecodeSlots;

static int failures = 0;
#define EXPECT(cond, ...)                              \
  do {                                                 \
    if (!(cond)) {                                     \
      std::printf("decode_slots_stress: FAIL " __VA_ARGS__); \
      std::printf("\n");                               \
      ++failures;                                      \
    }                                                  \
  } while (0)

// `slots` threads can hold a slot at once, and one more waits until one of
// them lets go. (Were there fewer slots, the holders would wait for each
// other for good and the check's timeout would fail it.)
static void AllSlotsHeldAtOnce(int slot_count) {
  DecodeSlots slots(slot_count, 0);
  std::atomic<int> holding{0};
  std::atomic<bool> let_go{false};
  std::vector<std::thread> holders;
  for (int t = 0; t < slot_count; t++) {
    holders.emplace_back([&] {
      DecodeSlots::Hold hold;
      slots.Acquire(&hold);
      holding.fetch_add(1);
      while (!let_go.load()) std::this_thread::yield();
      slots.Release();
    });
  }
  while (holding.load() != slot_count) std::this_thread::yield();
  std::atomic<bool> extra_in{false};
  std::thread extra([&] {
    DecodeSlots::Hold hold;
    slots.Acquire(&hold);
    extra_in.store(true);
    slots.Release();
  });
  for (int i = 0; i < 1000; i++) std::this_thread::yield();
  EXPECT(!extra_in.load(), "a thread got a slot while all %d were held", slot_count);
  let_go.store(true);
  extra.join();
  for (auto& holder : holders) holder.join();
  EXPECT(extra_in.load(), "the waiting thread never got a slot");
}

// A holder that yields while another thread waits hands that thread the slot.
static void YieldHandsOver() {
  DecodeSlots slots(1, 0);
  std::atomic<int> step{0};
  DecodeSlots::Hold hold;
  slots.Acquire(&hold);
  std::thread waiter([&] {
    DecodeSlots::Hold waiter_hold;
    step.store(1);
    slots.Acquire(&waiter_hold);  // blocks until the holder yields
    step.store(2);
    slots.Release();
  });
  while (step.load() != 1) std::this_thread::yield();
  // The waiter may not have taken its ticket yet: yield until it has been in.
  while (step.load() != 2) slots.Yield(&hold);
  slots.Release();
  waiter.join();
  EXPECT(step.load() == 2, "a yielding holder never let the waiter in");
}

int main(int argc, char** argv) {
  const int slot_count = argc > 1 ? std::atoi(argv[1]) : 1;
  const int thread_count = argc > 2 ? std::atoi(argv[2]) : 8;
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 2000;
  DecodeSlots slots(slot_count, 0);
  std::atomic<int> holding{0};
  std::atomic<int> most{0};
  std::vector<int> done(thread_count, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; t++) {
    threads.emplace_back([&, t] {
      DecodeSlots::Hold hold;
      for (int r = 0; r < rounds; r++) {
        slots.Acquire(&hold);
        const int now = holding.fetch_add(1) + 1;
        for (int seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);) {
        }
        for (int packet = 0; packet < 3; packet++) {
          holding.fetch_sub(1);
          slots.Yield(&hold);
          holding.fetch_add(1);
        }
        holding.fetch_sub(1);
        slots.Release();
        done[t]++;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT(most.load() <= slot_count, "%d threads held a slot at once; %d slots", most.load(), slot_count);
  for (int t = 0; t < thread_count; t++) EXPECT(done[t] == rounds, "thread %d got through %d of %d rounds", t, done[t], rounds);
  AllSlotsHeldAtOnce(slot_count);
  YieldHandsOver();
  std::printf("decode_slots_stress: slots=%d threads=%d rounds=%d most at once=%d %s\n", slot_count, thread_count, rounds,
              most.load(), failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
