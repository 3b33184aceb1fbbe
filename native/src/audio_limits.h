// What speakerd plays, stated once for C++ and exported to TypeScript
// (addon.cc: audioLimits), where src/engine/addon.ts refuses to run with
// tables of its own that say otherwise.
#pragma once

#include <alsa/asoundlib.h>

namespace speakerd {

// Frames a client may send (WAV or raw PCM), as their bytes arrive.
constexpr snd_pcm_format_t kInputFormats[] = {SND_PCM_FORMAT_U8,      SND_PCM_FORMAT_S16_LE,  SND_PCM_FORMAT_S16_BE,
                                              SND_PCM_FORMAT_S24_3LE, SND_PCM_FORMAT_S24_3BE, SND_PCM_FORMAT_S32_LE,
                                              SND_PCM_FORMAT_FLOAT_LE, SND_PCM_FORMAT_FLOAT64_LE};
constexpr unsigned kMinInputRate = 1000;
constexpr unsigned kMaxInputChannels = 8;

// What a device is opened with: the formats the mixer sums in, and the
// ranges speakerd's own PCMs (clock sink, fault PCM) offer.
constexpr snd_pcm_format_t kDeviceFormats[] = {SND_PCM_FORMAT_S16_LE, SND_PCM_FORMAT_S24_LE, SND_PCM_FORMAT_S24_3LE,
                                               SND_PCM_FORMAT_S32_LE, SND_PCM_FORMAT_FLOAT_LE};
constexpr unsigned kMinDeviceRate = 8000;
constexpr unsigned kMaxDeviceChannels = 32;

// Both sides.
constexpr unsigned kMaxRate = 384000;

template <size_t N>
constexpr bool Contains(const snd_pcm_format_t (&formats)[N], snd_pcm_format_t format) {
  for (snd_pcm_format_t f : formats) {
    if (f == format) return true;
  }
  return false;
}

}  // namespace speakerd
