#include "mixer.h"

#include <algorithm>
#include <cstring>

#include "sample_codec.h"

namespace speakerd {

bool Mixer::Supports(snd_pcm_format_t format) { return sample_codec::CanEncode(format); }

Mixer::Mixer(snd_pcm_format_t format, unsigned channels, size_t max_frames)
    : format_(format),
      channels_(channels),
      sample_bytes_(sample_codec::SampleBytes(format)),
      accumulator_(max_frames * channels) {}

void Mixer::Begin(size_t frames) {
  frames_ = std::min(frames, accumulator_.size() / channels_);
  std::fill_n(accumulator_.begin(), frames_ * channels_, 0.0f);
}

void Mixer::Add(const uint8_t* src, size_t frames, float gain, size_t at) {
  frames = std::min(frames, frames_ - std::min(at, frames_));
  float* acc = accumulator_.data() + at * channels_;
  const size_t samples = frames * channels_;
  // The device formats are the encodable ones; their codecs decode too.
  sample_codec::VisitEncoder(format_, [&](auto codec) {
    using Codec = decltype(codec);
    for (size_t i = 0; i < samples; ++i) acc[i] += Codec::Decode(src + i * Codec::kBytes) * gain;
  });
}

void Mixer::AddRamped(const uint8_t* src, size_t frames, const float* gains, size_t at) {
  frames = std::min(frames, frames_ - std::min(at, frames_));
  float* acc = accumulator_.data() + at * channels_;
  const unsigned channels = channels_;
  sample_codec::VisitEncoder(format_, [&](auto codec) {
    using Codec = decltype(codec);
    for (size_t f = 0; f < frames; ++f) {
      const float gain = gains[f];
      for (unsigned c = 0; c < channels; ++c) {
        const size_t i = f * channels + c;
        acc[i] += Codec::Decode(src + i * Codec::kBytes) * gain;
      }
    }
  });
}

void Mixer::Scale(const float* gains) {
  for (size_t f = 0; f < frames_; ++f) {
    for (unsigned c = 0; c < channels_; ++c) accumulator_[f * channels_ + c] *= gains[f];
  }
}

void Mixer::Finish(uint8_t* dst) const {
  sample_codec::EncodeSamples(format_, accumulator_.data(), frames_ * channels_, dst);
}

void Mixer::Silence(uint8_t* dst, size_t frames) const {
  // Every supported format is signed or float: silence is all-zero bytes.
  std::memset(dst, 0, frames * channels_ * sample_bytes_);
}

}  // namespace speakerd
