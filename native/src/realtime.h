// Real-time scheduling for the playback thread, and what speakerd does when
// it cannot have it.
#pragma once

#include <string>

#include "pcm_device.h"

namespace speakerd {

// Without SCHED_FIFO the playback thread waits its turn behind every busy
// thread of its cgroup: measured here with both cores loaded, 16 to 37 ms
// between the period timer and the thread running, so a 21 ms buffer
// (4 x 256 frames) ran dry a few times a minute. Twice the worst delay seen,
// plus a period, keeps it fed.
constexpr unsigned kMinBufferMsWithoutRealtime = 80;

// The SCHED_FIFO priority the playback thread asks for (docs/decisions.md,
// "SCHED_FIFO priority 10"), and that priority within what the system offers.
constexpr int kRealtimePriority = 10;
int RealtimePriority();

// Whether this process may run a thread at SCHED_FIFO. It tries on the calling
// thread and puts it back: the one answer that accounts for CAP_SYS_NICE,
// RLIMIT_RTPRIO, a seccomp filter and a cgroup without real-time runtime.
bool SchedFifoPermitted();

// The request, with enough periods for kMinBufferMsWithoutRealtime when the
// playback thread will not run SCHED_FIFO; the period itself is kept, so that
// commit granularity and start latency stay what the operator chose.
PcmRequest WithBufferFor(PcmRequest request, bool realtime);

// "85.3 ms"
std::string FormatMs(unsigned long frames, unsigned rate);

}  // namespace speakerd
