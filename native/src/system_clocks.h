// The two system clocks speakerd times audio by: CLOCK_MONOTONIC, which
// paces the playback thread and the device clock and never steps, and
// CLOCK_REALTIME, the wall clock NTP or PTP keeps, in which clients say when
// a stream must play (design §2c).
#pragma once

#include <cstdint>

namespace speakerd {

int64_t MonotonicNowNs();

// CLOCK_REALTIME - CLOCK_MONOTONIC, now. NTP slews both alike, so the offset
// moves only when the wall clock is stepped.
int64_t RealtimeOffsetNs();

}  // namespace speakerd
