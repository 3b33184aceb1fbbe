#include "mixer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace speakerd {
namespace {

// Full-scale values. Integer samples map to [-1, 1) by these, and back with
// clipping, so that a signal that passes at unity gain is unchanged.
constexpr float kS16 = 32768.0f;
constexpr float kS24 = 8388608.0f;
constexpr float kS32 = 2147483648.0f;

inline int32_t Clip(float value, float full_scale) {
  const float scaled = value * full_scale;
  if (scaled >= full_scale - 1.0f) return static_cast<int32_t>(full_scale - 1.0f);
  if (scaled <= -full_scale) return static_cast<int32_t>(-full_scale);
  return static_cast<int32_t>(lrintf(scaled));
}

// S32 needs doubles at the edge: float cannot represent 2^31 - 1.
inline int32_t ClipS32(float value) {
  const double scaled = static_cast<double>(value) * 2147483648.0;
  if (scaled >= 2147483647.0) return INT32_MAX;
  if (scaled <= -2147483648.0) return INT32_MIN;
  return static_cast<int32_t>(llrint(scaled));
}

template <typename Sample>
inline Sample ReadLE(const uint8_t* p) {
  Sample s;
  std::memcpy(&s, p, sizeof s);  // x86 and arm64 are little-endian, like the formats we accept
  return s;
}

// Adds `samples` integer samples of `width` bytes each, decoded by `decode`,
// scaled by `scale`, to acc.
template <typename Decode>
inline void AddSamples(float* acc, const uint8_t* src, size_t samples, size_t width, float scale, Decode decode) {
  for (size_t i = 0; i < samples; ++i) acc[i] += static_cast<float>(decode(src + i * width)) * scale;
}

inline int32_t ReadS24_3(const uint8_t* p) {
  int32_t v = p[0] | (p[1] << 8) | (p[2] << 16);
  return (v ^ 0x800000) - 0x800000;  // sign-extend 24 bits
}

}  // namespace

bool Mixer::Supports(snd_pcm_format_t format) {
  switch (format) {
    case SND_PCM_FORMAT_S16_LE:
    case SND_PCM_FORMAT_S24_LE:
    case SND_PCM_FORMAT_S24_3LE:
    case SND_PCM_FORMAT_S32_LE:
    case SND_PCM_FORMAT_FLOAT_LE:
      return true;
    default:
      return false;
  }
}

Mixer::Mixer(snd_pcm_format_t format, unsigned channels, size_t max_frames)
    : format_(format),
      channels_(channels),
      sample_bytes_(static_cast<size_t>(snd_pcm_format_physical_width(format) / 8)),
      accumulator_(max_frames * channels) {}

void Mixer::Begin(size_t frames) {
  frames_ = std::min(frames, accumulator_.size() / channels_);
  std::fill_n(accumulator_.begin(), frames_ * channels_, 0.0f);
}

void Mixer::Add(const uint8_t* src, size_t frames, float gain, size_t at) {
  frames = std::min(frames, frames_ - std::min(at, frames_));
  float* acc = accumulator_.data() + at * channels_;
  const size_t samples = frames * channels_;
  switch (format_) {
    case SND_PCM_FORMAT_S16_LE:
      AddSamples(acc, src, samples, 2, gain / kS16, ReadLE<int16_t>);
      break;
    case SND_PCM_FORMAT_S24_LE:
      // The low three bytes of each 32-bit word hold the sample.
      AddSamples(acc, src, samples, 4, gain / kS24,
                 [](const uint8_t* p) { return ((ReadLE<int32_t>(p) & 0xffffff) ^ 0x800000) - 0x800000; });
      break;
    case SND_PCM_FORMAT_S24_3LE:
      AddSamples(acc, src, samples, 3, gain / kS24, ReadS24_3);
      break;
    case SND_PCM_FORMAT_S32_LE:
      AddSamples(acc, src, samples, 4, gain / kS32, ReadLE<int32_t>);
      break;
    case SND_PCM_FORMAT_FLOAT_LE:
      AddSamples(acc, src, samples, 4, gain, ReadLE<float>);
      break;
    default:
      break;
  }
}

void Mixer::Finish(uint8_t* dst) const {
  const float* acc = accumulator_.data();
  const size_t samples = frames_ * channels_;
  switch (format_) {
    case SND_PCM_FORMAT_S16_LE:
      for (size_t i = 0; i < samples; ++i) {
        const int16_t s = static_cast<int16_t>(Clip(acc[i], kS16));
        std::memcpy(dst + i * 2, &s, 2);
      }
      break;
    case SND_PCM_FORMAT_S24_LE:
      for (size_t i = 0; i < samples; ++i) {
        const int32_t s = Clip(acc[i], kS24);
        std::memcpy(dst + i * 4, &s, 4);
      }
      break;
    case SND_PCM_FORMAT_S24_3LE:
      for (size_t i = 0; i < samples; ++i) {
        const int32_t s = Clip(acc[i], kS24);
        dst[i * 3] = static_cast<uint8_t>(s);
        dst[i * 3 + 1] = static_cast<uint8_t>(s >> 8);
        dst[i * 3 + 2] = static_cast<uint8_t>(s >> 16);
      }
      break;
    case SND_PCM_FORMAT_S32_LE:
      for (size_t i = 0; i < samples; ++i) {
        const int32_t s = ClipS32(acc[i]);
        std::memcpy(dst + i * 4, &s, 4);
      }
      break;
    case SND_PCM_FORMAT_FLOAT_LE:
      for (size_t i = 0; i < samples; ++i) {
        const float s = std::clamp(acc[i], -1.0f, 1.0f);
        std::memcpy(dst + i * 4, &s, 4);
      }
      break;
    default:
      break;
  }
}

void Mixer::Silence(uint8_t* dst, size_t frames) const {
  // Every supported format is signed or float: silence is all-zero bytes.
  std::memset(dst, 0, frames * channels_ * sample_bytes_);
}

}  // namespace speakerd
