// Mixes stream frames, already in the device's format, into the device's
// buffer: each stream is scaled by its gain and summed into a float
// accumulator, which is then clipped and converted back to the device format.
// One stream at unity gain that covers the whole chunk is copied unchanged,
// which keeps single-stream playback bit-exact in every format and costs one
// memcpy.
#pragma once

#include <alsa/asoundlib.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace speakerd {

class Mixer {
 public:
  // Whether the mixer can convert this sample format.
  static bool Supports(snd_pcm_format_t format);

  Mixer(snd_pcm_format_t format, unsigned channels, size_t max_frames);

  // Starts a chunk of `frames` frames (at most max_frames).
  void Begin(size_t frames);
  // Adds `frames` frames of device-format samples, scaled by gain, at frame
  // offset `at` of the chunk.
  void Add(const uint8_t* src, size_t frames, float gain, size_t at);
  // The same with a gain per frame: gains[i] scales the i-th frame of src.
  void AddRamped(const uint8_t* src, size_t frames, const float* gains, size_t at);
  // Scales the chunk mixed so far, frame by frame (the master volume).
  void Scale(const float* gains);
  // Writes the chunk, clipped, to dst in the device format.
  void Finish(uint8_t* dst) const;

  // Writes `frames` frames of digital silence.
  void Silence(uint8_t* dst, size_t frames) const;

 private:
  snd_pcm_format_t format_;
  unsigned channels_;
  size_t sample_bytes_;
  size_t frames_ = 0;
  std::vector<float> accumulator_;
};

}  // namespace speakerd
