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
//
// The line is young when the stream comes (the device starts for it), and
// every report refines it; what is converted is steered by the line of the
// moment it was converted. So a timed stream is converted no further ahead
// of when it plays than the line has reports for, between kMinLeadNs and
// kMaxLeadNs (its body waits in the socket meanwhile): a stream that came
// with the device is not steered for its first 1.4 s (a whole ring) by a
// line that did not exist yet, and once the line is a second old the ring
// again covers a producer's stall of a second. And the card's rate is taken
// from the line only once it spans kFeedForwardSpanNs: over a shorter span a
// driver whose pointer moves in 4 ms steps (snd-aloop) gives a slope off by
// a few thousand ppm, and until then the nominal rate is nearer. (It was a
// second, when the line was fitted through all the reports: on snd-aloop a
// stream's first second was then converted at the nominal rate, 2000 ppm
// off a card that slow.)
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
  static constexpr double kMinLeadNs = 0.25e9;
  static constexpr double kMaxLeadNs = 1.2e9;
  static constexpr double kFeedForwardSpanNs = 0.5e9;

  ClockLock(StreamState* stream, const DeviceClock* clock, unsigned device_rate)
      : stream_(stream), clock_(clock), device_rate_(device_rate) {}

  // Before the first Ratio: the rate of the frames going in.
  void SetSourceRate(unsigned rate) { source_rate_ = rate; }
  unsigned source_rate() const { return source_rate_; }

  // The ratio for the next block: its first output frame is ring frame
  // `output_frame`, carrying source position `source_position` (frames).
  double Ratio(uint64_t output_frame, double source_position);

  // How many output frames after `output_frame` may be converted now: up
  // to the lead ahead of when they play (before there is a line:
  // kMinLeadNs of output, at the nominal ratio).
  uint64_t Headroom(uint64_t output_frame) const;

  // The producer stopped at `output_frame` for want of headroom: it is
  // woken when up to half the lead more may be converted, and at least
  // `block` frames. Woken for each block, eight timed streams' producers
  // woke the service 376 times a second, where a plain stream's wakes at
  // half a free ring: the locked streams cost 1.47 times the plain ones' CPU
  // (bench/sync.mjs; 1.13-1.31 since).
  void WaitForHeadroom(uint64_t output_frame, uint64_t block);
  // It stopped for room, or took everything: woken as any producer is.
  void NoWait() { stream_->convert_at_ns.store(0, std::memory_order_relaxed); }

 private:
  // Where ring frame 0 plays: where the playback thread placed it, or,
  // until then, where it will place it.
  double FirstFrame(const ClockLine& line) const;
  // How far ahead of when it plays a stream may be converted by this line:
  // as far as the line has reports for, within kMinLeadNs..kMaxLeadNs.
  static double LeadNs(const ClockLine& line);

  StreamState* stream_;  // its sync_error_ns is this side's to write
  const DeviceClock* clock_;
  const unsigned device_rate_;
  unsigned source_rate_ = 0;
};

}  // namespace speakerd
