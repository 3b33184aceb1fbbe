#include "realtime.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cstdio>

namespace speakerd {

int RealtimePriority() { return std::min(kRealtimePriority, sched_get_priority_max(SCHED_FIFO)); }

bool SchedFifoPermitted() {
  int policy = 0;
  sched_param previous{};
  if (pthread_getschedparam(pthread_self(), &policy, &previous) != 0) return false;
  sched_param fifo{};
  fifo.sched_priority = RealtimePriority();
  if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &fifo) != 0) return false;
  // Going back down is always allowed.
  pthread_setschedparam(pthread_self(), policy, &previous);
  return true;
}

PcmRequest WithBufferFor(PcmRequest request, bool realtime) {
  if (realtime || request.period_frames == 0) return request;
  const unsigned long min_frames = static_cast<unsigned long>(request.rate) * kMinBufferMsWithoutRealtime / 1000;
  const unsigned needed = static_cast<unsigned>((min_frames + request.period_frames - 1) / request.period_frames);
  request.periods = std::max(request.periods, needed);
  return request;
}

std::string FormatMs(unsigned long frames, unsigned rate) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f ms", rate == 0 ? 0.0 : frames * 1000.0 / rate);
  return text;
}

}  // namespace speakerd
