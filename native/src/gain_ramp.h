// A factor that moves in a straight line to a target over a number of
// frames: how every change of level (a client's gain, a duck, a fade, the
// master volume) is made without a click or zipper noise.
//
// The k-th frame of an n-frame move from a to b is scaled by a + (b − a)·k/n,
// k = 1…n, after `delay` frames at a: no two frames differ by more than
// |b − a|/n, and the move's last frame is exactly at b. Linear in amplitude,
// not in dB: a fade then reaches true silence, and a duck's ramp is as short
// as asked (docs/decisions.md, "Ramps").
#pragma once

#include <algorithm>
#include <cstddef>

namespace speakerd {

class GainRamp {
 public:
  explicit GainRamp(float value = 1.0f) : from_(value), to_(value) {}

  // The factor of the last frame passed (the target once the move is done).
  float value() const {
    if (done_ <= delay_) return from_;
    return At(done_ - delay_);
  }
  float target() const { return to_; }
  bool moving() const { return done_ < delay_ + length_; }
  // Frames until the move is done, the delay included.
  size_t frames_left() const { return delay_ + length_ - done_; }

  // Takes the value at once: nothing has played at the old one.
  void Jump(float value) {
    from_ = to_ = value;
    delay_ = length_ = done_ = 0;
  }

  // Moves from where it is now to `target` over `frames` frames, starting
  // `delay` frames from now. Zero frames jump.
  void MoveTo(float target, size_t frames, size_t delay = 0) {
    from_ = value();
    to_ = target;
    delay_ = delay;
    length_ = frames;
    done_ = 0;
    if (frames == 0 && delay == 0) from_ = target;
  }

  // Multiplies gains[0, frames) by the factor of each of the next frames,
  // and moves on by that many.
  void Apply(float* gains, size_t frames) {
    for (size_t i = 0; i < frames; ++i) {
      ++done_;
      gains[i] *= done_ <= delay_ ? from_ : At(std::min(done_ - delay_, length_));
    }
    Settle();
  }

  // Moves on by `frames` frames without scaling anything.
  void Skip(size_t frames) {
    done_ += frames;
    Settle();
  }

 private:
  float At(size_t k) const {
    if (k >= length_) return to_;
    return static_cast<float>(from_ + (static_cast<double>(to_) - from_) * static_cast<double>(k) / static_cast<double>(length_));
  }

  // A finished move becomes a steady value, so that value() and moving()
  // never depend on how far past its end the frames went.
  void Settle() {
    if (done_ >= delay_ + length_) {
      from_ = to_;
      delay_ = length_ = done_ = 0;
    }
  }

  float from_;
  float to_;
  size_t delay_ = 0;
  size_t length_ = 0;
  size_t done_ = 0;
};

}  // namespace speakerd
