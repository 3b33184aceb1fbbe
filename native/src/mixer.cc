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
    case SND_PCM_FORMAT_S16_LE: {
      const float scale = gain / kS16;
      for (size_t i = 0; i < samples; ++i) {
        int16_t s;
        std::memcpy(&s, src + i * 2, 2);
        acc[i] += static_cast<float>(s) * scale;
      }
      break;
    }
    case SND_PCM_FORMAT_S24_LE: {
      const float scale = gain / kS24;
      for (size_t i = 0; i < samples; ++i) {
        int32_t s;
        std::memcpy(&s, src + i * 4, 4);
        s = ((s & 0xffffff) ^ 0x800000) - 0x800000;  // low 3 bytes hold the sample
        acc[i] += static_cast<float>(s) * scale;
      }
      break;
    }
    case SND_PCM_FORMAT_S24_3LE: {
      const float scale = gain / kS24;
      for (size_t i = 0; i < samples; ++i) acc[i] += static_cast<float>(ReadS24_3(src + i * 3)) * scale;
      break;
    }
    case SND_PCM_FORMAT_S32_LE: {
      const float scale = gain / kS32;
      for (size_t i = 0; i < samples; ++i) {
        int32_t s;
        std::memcpy(&s, src + i * 4, 4);
        acc[i] += static_cast<float>(s) * scale;
      }
      break;
    }
    case SND_PCM_FORMAT_FLOAT_LE: {
      for (size_t i = 0; i < samples; ++i) {
        float s;
        std::memcpy(&s, src + i * 4, 4);
        acc[i] += s * gain;
      }
      break;
    }
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
