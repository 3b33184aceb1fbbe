// Keeps a timed stream on the wall clock (design §2c). The playback thread
// plays the stream's converted frame k on device frame start + k; the card's
// sample clock drifts against CLOCK_REALTIME (a few to a few hundred ppm), so
// frame k would drift off the time its content belongs to. The resampler in
// front of the ring is steered instead: before each block it converts, the
// ratio (source frames per device frame) is
//
//   the card's true rate, from the device clock's line (feed-forward)
//   × (1 + error / kHorizon), the correction clamped to ±kMaxCorrection,
//
// where error is how much later than its content's time the next frame
// written will play, by the same line. The correction is a proportional
// loop on that error; the drift, which a PI loop's integral would have to
// learn, is measured directly, so nothing winds up. The error is predicted
// for the frame being written, which plays a ring later: there is no dead
// time in the loop, only the line's own accuracy.
//
// A correction of 500 ppm is 0.9 cents of pitch: nobody hears it.
#pragma once

#include <atomic>
#include <cstdint>

#include "device_clock.h"
#include "stream_state.h"

namespace speakerd {

class ClockLock {
 public:
  static constexpr double kHorizonNs = 2e9;      // an error is corrected over about this much audio
  static constexpr double kMaxCorrection = 5e-4;  // beyond the drift itself

  ClockLock(StreamState* stream, const DeviceClock* clock, unsigned device_rate)
      : stream_(stream), clock_(clock), device_rate_(device_rate) {}

  // Before the first Ratio: the rate of the frames going in.
  void SetSourceRate(unsigned rate) { source_rate_ = rate; }
  unsigned source_rate() const { return source_rate_; }

  // The ratio for the next block: its first output frame is ring frame
  // `output_frame`, carrying source position `source_position` (frames).
  double Ratio(uint64_t output_frame, double source_position);

 private:
  StreamState* stream_;  // its sync_error_ns is this side's to write
  const DeviceClock* clock_;
  const unsigned device_rate_;
  unsigned source_rate_ = 0;
};

}  // namespace speakerd
