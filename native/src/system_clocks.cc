#include "system_clocks.h"

#include <time.h>

#include <cstdint>

namespace speakerd {

namespace {
int64_t Ns(const timespec& ts) { return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec; }
}  // namespace

int64_t MonotonicNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return Ns(ts);
}

// Read between two monotonic reads, the closest of a few tries: a thread
// preempted between the reads would otherwise be off by the preemption.
int64_t RealtimeOffsetNs() {
  int64_t best_gap = INT64_MAX;
  int64_t offset = 0;
  for (int i = 0; i < 5; ++i) {
    timespec real;
    const int64_t before = MonotonicNowNs();
    clock_gettime(CLOCK_REALTIME, &real);
    const int64_t after = MonotonicNowNs();
    if (after - before < best_gap) {
      best_gap = after - before;
      offset = Ns(real) - (before + (after - before) / 2);
    }
  }
  return offset;
}

}  // namespace speakerd
