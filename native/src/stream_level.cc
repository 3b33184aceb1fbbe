#include "stream_level.h"

#include <algorithm>

namespace speakerd {

void StreamLevel::Steer(const LevelWants& wants, const LevelSettings& settings, size_t readable) {
  if (motion_ == Motion::kCut) return;
  // Nobody hears a stream that has not started or is paused: changes jump.
  const bool audible = started_ && motion_ != Motion::kPaused;
  if (wants.client_gain != client_.target()) {
    if (audible) {
      client_.MoveTo(wants.client_gain, settings.gain_ramp_frames);
    } else {
      client_.Jump(wants.client_gain);
    }
  }
  const float duck = wants.ducked ? settings.duck_gain : 1.0f;
  if (duck != duck_.target()) {
    if (audible) {
      duck_.MoveTo(duck, settings.duck_ramp_frames);
    } else {
      duck_.Jump(duck);
    }
  }

  if (wants.cut) {
    if (motion_ == Motion::kCutting) return;
    if (!audible) {
      motion_ = Motion::kCut;
      return;
    }
    FadeOut(Motion::kCutting, readable, settings);
    return;
  }
  if (wants.paused) {
    if (motion_ != Motion::kPlaying) return;  // pausing or paused already
    if (!started_) {
      motion_ = Motion::kPaused;  // not a frame played: nothing to fade
      return;
    }
    FadeOut(Motion::kPausing, readable, settings);
    return;
  }
  if (motion_ == Motion::kPausing || motion_ == Motion::kPaused) {
    // Resumes where it is: a pause half faded fades back in from there.
    if (started_) {
      fade_.MoveTo(1.0f, settings.fade_frames);
    } else {
      fade_.Jump(1.0f);
    }
    motion_ = Motion::kPlaying;
    tail_planned_ = false;
  }
  if (wants.fade_tail && !tail_planned_) {
    // The last fade's worth of what is left fades out; the rest is untouched.
    const size_t n = std::min(settings.fade_frames, readable);
    fade_.MoveTo(0.0f, n, readable - n);
    tail_planned_ = true;
  }
}

void StreamLevel::FadeOut(Motion towards, size_t readable, const LevelSettings& settings) {
  // Only frames already in the ring fade: the fade never waits for a
  // producer, and a ring holding less than a fade fades faster.
  const size_t n = std::min(settings.fade_frames, readable);
  fade_.MoveTo(0.0f, n);
  motion_ = towards;
  tail_planned_ = false;
  Settle();
}

void StreamLevel::Fill(float* gains, size_t frames) {
  std::fill_n(gains, frames, 1.0f);
  client_.Apply(gains, frames);
  duck_.Apply(gains, frames);
  fade_.Apply(gains, frames);
  Settle();
}

void StreamLevel::Advance(size_t frames) {
  client_.Skip(frames);
  duck_.Skip(frames);
  fade_.Skip(frames);
  Settle();
}

void StreamLevel::Settle() {
  if (fade_.moving()) return;
  if (motion_ == Motion::kPausing) motion_ = Motion::kPaused;
  if (motion_ == Motion::kCutting) motion_ = Motion::kCut;
}

}  // namespace speakerd
