// The headless sink: an ioplug PCM that consumes frames at exactly the
// configured rate, paced by CLOCK_MONOTONIC, and wakes pollers through a
// timerfd once per period, as a sound card's interrupt would. It runs the same
// mmap path as hardware; it just plays into nothing. If the writer falls
// behind, it xruns like a card.
//
// Two test hooks make it a card whose timing a test can check to the frame:
//   - ppm: it consumes that many parts per million faster (or, negative,
//     slower) than its nominal rate, as a cheap crystal does;
//   - timeline: a file that gets one line per period consumed,
//     "<CLOCK_REALTIME ns> <frames consumed since open>", so that the time
//     any frame "played" can be computed.
//
// It is also an ALSA PCM type, `speakerd_clock`, so that alsa-lib's own
// plugins can be layered on it (a `file` PCM records what played, paced):
//
//   pcm.clk { type speakerd_clock ppm 200 timeline "/tmp/out.tl" }
//
// alsa-lib built without libdl finds plugin types in the list that static
// builds keep (SND_PCM_PLUGIN_SYMBOL registers it there), so the type
// resolves wherever the configuration names it, as a slave too.
#pragma once

#include <alsa/asoundlib.h>

#include <string>

namespace speakerd {

constexpr const char* kClockSinkType = "speakerd_clock";

struct ClockSinkOptions {
  double ppm = 0;        // how far the consumption rate is off nominal
  std::string timeline;  // empty: no timeline
};

// The limits on ppm: a crystal that far off is no longer a clock to follow.
constexpr double kMaxClockPpm = 100000;

// Creates an unconfigured clock sink PCM. Returns 0 or a negative errno
// (EINVAL for a ppm beyond kMaxClockPpm, or a timeline that cannot be created).
int OpenClockSink(snd_pcm_t** pcm, const char* name, const ClockSinkOptions& options);

}  // namespace speakerd
