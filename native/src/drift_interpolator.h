// Moves a stream that is already at the card's rate by the few hundred ppm
// a clock lock asks for (clock_lock.h): each output frame is taken at a
// fractional source position, from the four input frames around it, by
// third-order Lagrange interpolation.
//
// Why not speexdsp, which resamples every other stream: at a ratio that is
// not a small fraction, speexdsp interpolates between four phases of its
// filter for every sample (4 × 48 taps at its quality 3), and each new ratio
// rebuilds its table. A locked stream then cost 2.0× a plain one
// (bench/sync.mjs; the target is 1.2×). Four taps cost a few per cent, any
// ratio is exact to 2^-32 (speexdsp's steps were 17 ppm), and a ratio
// change costs nothing. The price is the top of the band: the error of a
// 10 kHz tone's frames stays 24.6 dB below the tone (its level moves by up
// to 0.5 dB with the fraction, 2 dB at 14 kHz), of a 1 kHz tone 99 dB
// below it (test/native/drift-interpolator.test.ts measures both).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace speakerd {

class DriftInterpolator {
 public:
  // Input frames the output lags: output frame j at source position p needs
  // input up to floor(p) + 2.
  static constexpr unsigned kLatencyFrames = 2;

  // Positions in input frames, fixed point: a step of 2^-32 is 0.0002 ppm.
  static constexpr int kFractionBits = 32;
  static constexpr int64_t kOne = int64_t{1} << kFractionBits;

  explicit DriftInterpolator(unsigned channels);

  // Source frames per output frame from the next output frame on; returns
  // the ratio it follows (within 2^-32 of the one asked for).
  double SetRatio(double source_per_output);

  // As speexdsp's process_interleaved_float: takes at most *in_frames
  // interleaved float frames and writes at most *out_frames, and sets both
  // to what it took and wrote. The first output frame is input frame 0
  // itself, as speexdsp's after skip_zeros.
  void Process(const float* in, size_t* in_frames, float* out, size_t* out_frames);

  // Starts over: silence before the next input, position 0.
  void Reset();

  size_t memory_bytes() const { return window_.capacity() * sizeof(float); }

 private:
  static constexpr size_t kHistoryFrames = 3;

  const unsigned channels_;
  int64_t step_ = kOne;  // the ratio
  // The next output frame's source position, relative to the first frame of
  // the next input.
  int64_t position_ = 0;
  // The three frames before the next input, then that input while Process runs.
  std::vector<float> window_;
};

}  // namespace speakerd
