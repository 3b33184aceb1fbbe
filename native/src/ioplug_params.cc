#include "ioplug_params.h"

#include <iterator>

#include "audio_limits.h"

namespace speakerd {

int ConstrainToMixerFormats(snd_pcm_ioplug_t* io) {
  // RW access too, so that tools such as aplay can open them.
  static const unsigned int kAccess[] = {SND_PCM_ACCESS_MMAP_INTERLEAVED, SND_PCM_ACCESS_RW_INTERLEAVED};
  unsigned int formats[std::size(kDeviceFormats)];
  for (size_t i = 0; i < std::size(kDeviceFormats); ++i) formats[i] = static_cast<unsigned int>(kDeviceFormats[i]);
  int err = snd_pcm_ioplug_set_param_list(io, SND_PCM_IOPLUG_HW_ACCESS, 2, kAccess);
  if (err >= 0) err = snd_pcm_ioplug_set_param_list(io, SND_PCM_IOPLUG_HW_FORMAT, std::size(formats), formats);
  if (err >= 0) err = snd_pcm_ioplug_set_param_minmax(io, SND_PCM_IOPLUG_HW_CHANNELS, 1, kMaxDeviceChannels);
  if (err >= 0) err = snd_pcm_ioplug_set_param_minmax(io, SND_PCM_IOPLUG_HW_RATE, kMinDeviceRate, kMaxRate);
  if (err >= 0) err = snd_pcm_ioplug_set_param_minmax(io, SND_PCM_IOPLUG_HW_PERIOD_BYTES, 64, 1 << 22);
  if (err >= 0) err = snd_pcm_ioplug_set_param_minmax(io, SND_PCM_IOPLUG_HW_PERIODS, 2, 64);
  return err;
}

}  // namespace speakerd
