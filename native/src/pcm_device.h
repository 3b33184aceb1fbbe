// One open ALSA PCM, configured for mmap interleaved playback. Every alsa-lib
// call that opens, configures, recovers or closes a PCM lives here; the
// playback thread only moves frames through the handle.
#pragma once

#include <alsa/asoundlib.h>

#include <memory>
#include <string>

#include "device_error.h"

namespace speakerd {

struct PcmRequest {
  std::string pcm;           // ALSA PCM name, e.g. "plughw:0,0" or one defined in alsa_config
  std::string alsa_config;   // extra configuration text, merged over alsa.conf
  snd_pcm_format_t format = SND_PCM_FORMAT_S16_LE;
  unsigned rate = 48000;
  unsigned channels = 2;
  unsigned period_frames = 1024;
  unsigned periods = 4;
};

// What the hardware (or plugin) actually agreed to.
struct PcmFormat {
  snd_pcm_format_t format;
  unsigned rate;
  unsigned channels;
  snd_pcm_uframes_t period_frames;
  snd_pcm_uframes_t buffer_frames;
  size_t frame_bytes;
};

class PcmDevice {
 public:
  // Opens the PCM named in `request` (non-blocking, so a busy device answers
  // EBUSY at once) and configures it. Blocks: call it off the JS thread.
  static std::unique_ptr<PcmDevice> Open(const PcmRequest& request, DeviceError* error);
  // Takes an already created PCM (the clock sink) through the same configuration.
  static std::unique_ptr<PcmDevice> Adopt(snd_pcm_t* pcm, const PcmRequest& request, DeviceError* error);

  ~PcmDevice();
  PcmDevice(const PcmDevice&) = delete;
  PcmDevice& operator=(const PcmDevice&) = delete;

  snd_pcm_t* handle() const { return pcm_; }
  const PcmFormat& format() const { return format_; }
  const std::string& name() const { return name_; }
  // The sound card the PCM plays on (snd_pcm_info), or -1 for a PCM on none: ioplug, file, null.
  int card() const { return card_; }

  // The one recovery path for a failed PCM call: EPIPE (xrun) and ESTRPIPE
  // (suspend) leave the PCM prepared, to be started again by the caller, and
  // return 0. Anything else (ENODEV or EBADFD after an unplug, EIO) is
  // returned unchanged for the caller to report.
  int Recover(int err);

  // Discards what is queued and leaves the PCM prepared.
  int Stop();

 private:
  PcmDevice(snd_pcm_t* pcm, std::string name) : pcm_(pcm), name_(std::move(name)) {}
  bool Configure(const PcmRequest& request, DeviceError* error);

  snd_pcm_t* pcm_;
  std::string name_;
  int card_ = -1;
  PcmFormat format_{};
};

}  // namespace speakerd
