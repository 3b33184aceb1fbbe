#include "drift_interpolator.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>
#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

namespace speakerd {

namespace {

constexpr int kBits = DriftInterpolator::kFractionBits;
constexpr int64_t kOne = DriftInterpolator::kOne;

// The four Lagrange weights for each of kPhases fractions: a frame's weights
// are a row looked up by its fraction's top bits, not computed (ten
// multiplications a frame cost more than the interpolation itself). The
// position is rounded to the nearest 1/8192 of a frame: at 10 kHz that
// moves a frame by at most 0.00008 rad, 82 dB below the tone, far under
// the interpolation's own error there.
constexpr int kPhaseBits = 13;
constexpr size_t kPhases = size_t{1} << kPhaseBits;

struct alignas(16) Weights {
  float w[4];
};

const Weights* WeightTable() {
  static const std::vector<Weights> table = [] {
    std::vector<Weights> rows(kPhases + 1);  // + 1: a fraction rounded up to 1
    for (size_t i = 0; i <= kPhases; ++i) {
      const double f = static_cast<double>(i) / kPhases;
      rows[i] = {{static_cast<float>(-f * (f - 1) * (f - 2) / 6), static_cast<float>((f + 1) * (f - 1) * (f - 2) / 2),
                  static_cast<float>(-(f + 1) * f * (f - 2) / 2), static_cast<float>((f + 1) * f * (f - 1) / 6)}};
    }
    return rows;
  }();
  return table.data();
}

// Output frames at positions position, position + step, ... (fixed point,
// relative to window frame 3) until `room` frames are written or a frame
// needs input beyond `frames`. The only chain from one frame to the next is
// an integer add; the channel count is a constant where it can be, so that
// the compiler unrolls the channels instead of checking the count per frame
// (a loop over a run-time count made the kernel twice as slow).
template <unsigned kChannels>
size_t Interpolate(const float* window, size_t frames, unsigned channels, int64_t* position, int64_t step, float* out,
                   size_t room) {
  constexpr int kRowShift = kBits - kPhaseBits;
  constexpr int64_t kHalfRow = int64_t{1} << (kRowShift - 1);
  const Weights* table = WeightTable();
  const size_t stride = kChannels != 0 ? kChannels : channels;
  const int64_t end = (static_cast<int64_t>(frames) - 2) * kOne;  // floor(p) + 2 < frames
  int64_t p = *position;
  size_t written = 0;
  for (; written < room && p < end; ++written, p += step) {
    // Third-order Lagrange through input frames floor(p) - 1 .. floor(p) + 2.
    const Weights& row = table[((p & (kOne - 1)) + kHalfRow) >> kRowShift];
    const float* x = window + static_cast<size_t>((p >> kBits) + 2) * stride;  // input frame floor(p) - 1
    float* y = out + written * stride;
#if defined(__SSE2__)
    if constexpr (kChannels == 2) {
      // The four stereo frames are two vectors: each lane times its frame's
      // weight, then the halves added (half the instructions of the loop).
      const __m128 weights = _mm_load_ps(row.w);
      const __m128 sums = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(x), _mm_unpacklo_ps(weights, weights)),
                                     _mm_mul_ps(_mm_loadu_ps(x + 4), _mm_unpackhi_ps(weights, weights)));
      _mm_storel_pi(reinterpret_cast<__m64*>(y), _mm_add_ps(sums, _mm_movehl_ps(sums, sums)));
      continue;
    }
#endif
    for (size_t c = 0; c < stride; ++c) {
      y[c] = row.w[0] * x[c] + row.w[1] * x[stride + c] + row.w[2] * x[2 * stride + c] + row.w[3] * x[3 * stride + c];
    }
  }
  *position = p;
  return written;
}

}  // namespace

DriftInterpolator::DriftInterpolator(unsigned channels) : channels_(channels) { Reset(); }

double DriftInterpolator::SetRatio(double source_per_output) {
  step_ = static_cast<int64_t>(std::llround(source_per_output * kOne));
  return static_cast<double>(step_) / kOne;
}

void DriftInterpolator::Reset() {
  position_ = 0;
  window_.assign(kHistoryFrames * channels_, 0.0f);
}

void DriftInterpolator::Process(const float* in, size_t* in_frames, float* out, size_t* out_frames) {
  const size_t frames = *in_frames;
  const size_t channels = channels_;
  // Grown, never shrunk: a vector's resize would zero what the copy fills.
  if (window_.size() < (kHistoryFrames + frames) * channels) window_.resize((kHistoryFrames + frames) * channels);
  std::memcpy(window_.data() + kHistoryFrames * channels, in, frames * channels * sizeof(float));
  // Window frame i + kHistoryFrames is input frame i: the history reaches
  // back to input frame -3, and floor(position) >= -2 on entry.
  int64_t position = position_;
  size_t written;
  switch (channels) {
    case 1:
      written = Interpolate<1>(window_.data(), frames, 1, &position, step_, out, *out_frames);
      break;
    case 2:
      written = Interpolate<2>(window_.data(), frames, 2, &position, step_, out, *out_frames);
      break;
    default:
      written = Interpolate<0>(window_.data(), frames, channels, &position, step_, out, *out_frames);
      break;
  }
  // Keep the three frames before the next output's first one; input past
  // them is not taken when the output ran out of room first.
  const size_t taken = static_cast<size_t>(std::clamp<int64_t>((position >> kFractionBits) + 2, 0, static_cast<int64_t>(frames)));
  std::memmove(window_.data(), window_.data() + taken * channels, kHistoryFrames * channels * sizeof(float));
  position_ = position - static_cast<int64_t>(taken) * kOne;
  *in_frames = taken;
  *out_frames = written;
}

}  // namespace speakerd
