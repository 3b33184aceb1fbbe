// The one place each sample format is decoded to float and encoded back. The
// mixer and the converter both use it, so that a device format is written by
// exactly one piece of code whichever path a frame takes.
//
// The rules, which make integer paths exact wherever the target is at least
// as wide as the source:
//   - an integer of `bits` bits maps to [-1, 1) by dividing by 2^(bits-1), so
//     that decoding is exact in float for up to 24 bits (S32 keeps 24);
//   - encoding multiplies by 2^(bits-1), rounds half to even (lrintf in the
//     default rounding mode) and clips to [-2^(bits-1), 2^(bits-1) - 1];
//   - S32 is scaled in double: float cannot represent 2^31 - 1;
//   - float output is clamped to [-1, 1].
//
// Each codec is a struct with kBytes and a static Decode (every format) and
// Encode (device formats only), so that loops over samples compile to tight,
// format-specific code through VisitDecoder / VisitEncoder.
#pragma once

#include <alsa/asoundlib.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace speakerd {
namespace sample_codec {

constexpr float kS16FullScale = 32768.0f;
constexpr float kS24FullScale = 8388608.0f;
constexpr double kS32FullScale = 2147483648.0;

// x86 and arm64 are little-endian, like every LE format here: a memcpy reads
// and writes them, and BE formats are byte-swapped explicitly.
template <typename T>
inline T LoadNative(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

template <typename T>
inline void StoreNative(uint8_t* p, T value) {
  std::memcpy(p, &value, sizeof value);
}

inline int32_t SignExtend24(uint32_t v) { return static_cast<int32_t>((v & 0xffffff) ^ 0x800000) - 0x800000; }

// Scales to an integer of full scale `full_scale` (a power of two up to 2^23),
// rounding half to even and clipping.
// Clipped before rounding, without branches, so that loops over samples
// vectorize: a value within half a step of full scale rounds to full scale
// either way, and NaN passes the clamp and rounds to INT32_MIN, whose low
// bits are 0 (silence) in every narrower format.
inline int32_t QuantizeClipped(float value, float full_scale) {
  const float scaled = std::clamp(value * full_scale, -full_scale, full_scale - 1.0f);
  return static_cast<int32_t>(lrintf(scaled));
}

inline int32_t QuantizeClippedS32(float value) {
  const double scaled = static_cast<double>(value) * kS32FullScale;
  if (scaled >= 2147483647.0) return INT32_MAX;
  if (scaled <= -kS32FullScale) return INT32_MIN;
  return static_cast<int32_t>(llrint(scaled));
}

struct U8 {
  static constexpr size_t kBytes = 1;
  static constexpr bool kFloat = false;
  static float Decode(const uint8_t* p) { return static_cast<float>(static_cast<int32_t>(p[0]) - 128) / 128.0f; }
};

struct S16LE {
  static constexpr size_t kBytes = 2;
  static constexpr bool kFloat = false;
  static float Decode(const uint8_t* p) { return static_cast<float>(LoadNative<int16_t>(p)) / kS16FullScale; }
  static void Encode(float v, uint8_t* p) { StoreNative(p, static_cast<int16_t>(QuantizeClipped(v, kS16FullScale))); }
};

struct S16BE {
  static constexpr size_t kBytes = 2;
  static constexpr bool kFloat = false;
  static float Decode(const uint8_t* p) {
    return static_cast<float>(static_cast<int16_t>((p[0] << 8) | p[1])) / kS16FullScale;
  }
};

// 24-bit samples in the low three bytes of a 32-bit word.
struct S24LE {
  static constexpr size_t kBytes = 4;
  static constexpr bool kFloat = false;
  static float Decode(const uint8_t* p) {
    return static_cast<float>(SignExtend24(LoadNative<uint32_t>(p))) / kS24FullScale;
  }
  static void Encode(float v, uint8_t* p) { StoreNative(p, QuantizeClipped(v, kS24FullScale)); }
};

struct S24_3LE {
  static constexpr size_t kBytes = 3;
  static constexpr bool kFloat = false;
  static float Decode(const uint8_t* p) {
    return static_cast<float>(SignExtend24(p[0] | (p[1] << 8) | (p[2] << 16))) / kS24FullScale;
  }
  static void Encode(float v, uint8_t* p) {
    const int32_t s = QuantizeClipped(v, kS24FullScale);
    p[0] = static_cast<uint8_t>(s);
    p[1] = static_cast<uint8_t>(s >> 8);
    p[2] = static_cast<uint8_t>(s >> 16);
  }
};

struct S24_3BE {
  static constexpr size_t kBytes = 3;
  static constexpr bool kFloat = false;
  static float Decode(const uint8_t* p) {
    return static_cast<float>(SignExtend24((p[0] << 16) | (p[1] << 8) | p[2])) / kS24FullScale;
  }
};

struct S32LE {
  static constexpr size_t kBytes = 4;
  static constexpr bool kFloat = false;
  // Rounded to float's 24-bit mantissa, then scaled exactly by a power of two.
  static float Decode(const uint8_t* p) {
    return static_cast<float>(LoadNative<int32_t>(p)) * static_cast<float>(1.0 / kS32FullScale);
  }
  static void Encode(float v, uint8_t* p) { StoreNative(p, QuantizeClippedS32(v)); }
};

struct FloatLE {
  static constexpr size_t kBytes = 4;
  static constexpr bool kFloat = true;
  static float Decode(const uint8_t* p) { return LoadNative<float>(p); }
  static void Encode(float v, uint8_t* p) { StoreNative(p, std::clamp(v, -1.0f, 1.0f)); }
};

struct Float64LE {
  static constexpr size_t kBytes = 8;
  static constexpr bool kFloat = true;
  static float Decode(const uint8_t* p) { return static_cast<float>(LoadNative<double>(p)); }
};

// Calls visit(Codec{}) with the codec that decodes `format`; false if none does.
template <typename Visit>
inline bool VisitDecoder(snd_pcm_format_t format, Visit&& visit) {
  switch (format) {
    case SND_PCM_FORMAT_U8: visit(U8{}); return true;
    case SND_PCM_FORMAT_S16_LE: visit(S16LE{}); return true;
    case SND_PCM_FORMAT_S16_BE: visit(S16BE{}); return true;
    case SND_PCM_FORMAT_S24_LE: visit(S24LE{}); return true;
    case SND_PCM_FORMAT_S24_3LE: visit(S24_3LE{}); return true;
    case SND_PCM_FORMAT_S24_3BE: visit(S24_3BE{}); return true;
    case SND_PCM_FORMAT_S32_LE: visit(S32LE{}); return true;
    case SND_PCM_FORMAT_FLOAT_LE: visit(FloatLE{}); return true;
    case SND_PCM_FORMAT_FLOAT64_LE: visit(Float64LE{}); return true;
    default: return false;
  }
}

// Calls visit(Codec{}) with the codec that encodes `format` (the device
// formats, which the mixer also decodes); false if none does.
template <typename Visit>
inline bool VisitEncoder(snd_pcm_format_t format, Visit&& visit) {
  switch (format) {
    case SND_PCM_FORMAT_S16_LE: visit(S16LE{}); return true;
    case SND_PCM_FORMAT_S24_LE: visit(S24LE{}); return true;
    case SND_PCM_FORMAT_S24_3LE: visit(S24_3LE{}); return true;
    case SND_PCM_FORMAT_S32_LE: visit(S32LE{}); return true;
    case SND_PCM_FORMAT_FLOAT_LE: visit(FloatLE{}); return true;
    default: return false;
  }
}

inline bool CanEncode(snd_pcm_format_t format) {
  return VisitEncoder(format, [](auto) {});
}

// Bytes per sample of a format this header decodes, 0 for any other.
inline size_t SampleBytes(snd_pcm_format_t format) {
  size_t bytes = 0;
  VisitDecoder(format, [&](auto codec) { bytes = decltype(codec)::kBytes; });
  return bytes;
}

// S16_LE, the commonest device format, eight samples at a time: compilers
// do not vectorize lrintf, and the scalar loop was as costly as a timed
// stream's interpolation. The same results as S16LE::Encode: NaN is zeroed
// first, the clamp makes every value fit, and the conversion rounds half to
// even in the default rounding mode, as lrintf does.
inline void EncodeS16LE(const float* src, size_t samples, uint8_t* dst) {
  size_t i = 0;
#if defined(__SSE2__)
  const __m128 scale = _mm_set1_ps(kS16FullScale);
  const __m128 low = _mm_set1_ps(-kS16FullScale);
  const __m128 high = _mm_set1_ps(kS16FullScale - 1.0f);
  const auto quantize = [&](__m128 v) {
    v = _mm_and_ps(v, _mm_cmpord_ps(v, v));  // NaN → 0
    return _mm_cvtps_epi32(_mm_min_ps(_mm_max_ps(_mm_mul_ps(v, scale), low), high));
  };
  for (; i + 8 <= samples; i += 8) {
    const __m128i packed = _mm_packs_epi32(quantize(_mm_loadu_ps(src + i)), quantize(_mm_loadu_ps(src + i + 4)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i * 2), packed);
  }
#endif
  for (; i < samples; ++i) S16LE::Encode(src[i], dst + i * 2);
}

// Encodes `samples` floats to `format` at dst; `format` must be encodable.
inline void EncodeSamples(snd_pcm_format_t format, const float* src, size_t samples, uint8_t* dst) {
  if (format == SND_PCM_FORMAT_S16_LE) {
    EncodeS16LE(src, samples, dst);
    return;
  }
  VisitEncoder(format, [&](auto codec) {
    using Codec = decltype(codec);
    for (size_t i = 0; i < samples; ++i) Codec::Encode(src[i], dst + i * Codec::kBytes);
  });
}

}  // namespace sample_codec
}  // namespace speakerd
