// The headless sink: an ioplug PCM that consumes frames at exactly the
// configured rate, paced by CLOCK_MONOTONIC, and wakes pollers through a
// timerfd once per period, as a sound card's interrupt would. It runs the same
// mmap path as hardware; it just plays into nothing. If the writer falls
// behind, it xruns like a card.
#pragma once

#include <alsa/asoundlib.h>

namespace speakerd {

// Creates an unconfigured clock sink PCM. Returns 0 or a negative errno.
int OpenClockSink(snd_pcm_t** pcm, const char* name);

}  // namespace speakerd
