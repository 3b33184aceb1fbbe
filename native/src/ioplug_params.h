// The hardware parameters speakerd's own ioplug PCMs (the clock sink and the
// fault-injecting PCM) offer: every sample format the mixer writes, and the
// channel, rate and period ranges the JS layer accepts.
#pragma once

#include <alsa/asoundlib.h>
#include <alsa/pcm_external.h>

namespace speakerd {

// Returns 0 or a negative errno.
int ConstrainToMixerFormats(snd_pcm_ioplug_t* io);

}  // namespace speakerd
