// A stream's level, frame by frame, as the playback thread mixes it: the
// client's gain, times its duck (a higher class is playing), times its fade
// (a pause, a resume, a cut, an end at a length cap). Each is a GainRamp of
// its own, so that one moving never restarts another. Playback thread only.
//
// What a stream gives while it fades out matters as much as how loud: a
// pause or a cut takes at most a fade's worth of the frames already in the
// ring, and then the stream gives nothing (paused, its place in its audio
// kept) or is done (cut). A stream whose first frame has not been mixed
// takes every change at once: the start of a stream is never altered.
#pragma once

#include <cstddef>

#include "gain_ramp.h"

namespace speakerd {

// Ramp lengths and the duck, in frames and linear gain (PlaybackOptions).
struct LevelSettings {
  size_t gain_ramp_frames = 0;  // a client's change of gain
  size_t duck_ramp_frames = 0;  // ducking and unducking
  size_t fade_frames = 0;       // pause, resume, cut, capped end
  float duck_gain = 0.1f;
};

// What the stream should be doing now, decided before each chunk.
struct LevelWants {
  float client_gain = 1.0f;
  bool ducked = false;
  bool paused = false;  // by its client, or pre-empted by an alarm
  bool cut = false;     // stop after a fade
  // The stream has ended and asked for its last frames to fade out (it was
  // cut at a length cap): `readable` frames are all that is left.
  bool fade_tail = false;
};

class StreamLevel {
 public:
  enum class Motion {
    kPlaying,  // in the mix (fading in, perhaps)
    kPausing,  // fading out towards a pause
    kPaused,   // out of the mix; its frames wait in the ring
    kCutting,  // fading out towards its end
    kCut,      // faded out: retire it
  };

  explicit StreamLevel(float client_gain) : client_(client_gain) {}

  // Before a chunk: follows what is wanted. `readable` is what the ring
  // holds now, which bounds a fade out.
  void Steer(const LevelWants& wants, const LevelSettings& settings, size_t readable);

  Motion motion() const { return motion_; }
  // In the mix this chunk (possibly fading).
  bool mixed() const { return motion_ == Motion::kPlaying || motion_ == Motion::kPausing || motion_ == Motion::kCutting; }
  // Fading out: it gives at most frames_left() more frames, then stops.
  bool bounded() const { return motion_ == Motion::kPausing || motion_ == Motion::kCutting; }
  size_t frames_left() const { return fade_.frames_left(); }

  // Whether the next `frames` frames all have one level; level() is it.
  bool Steady() const { return !client_.moving() && !duck_.moving() && !fade_.moving(); }
  float level() const { return client_.value() * duck_.value() * fade_.value(); }
  // Writes the level of each of the next `frames` frames into gains and
  // moves on by that many (the mix advanced by `frames`).
  void Fill(float* gains, size_t frames);
  // Moves on by `frames` at a steady level.
  void Advance(size_t frames);

  // Called once the stream's first frame has been mixed.
  void MarkStarted() { started_ = true; }
  bool started() const { return started_; }

 private:
  void FadeOut(Motion towards, size_t readable, const LevelSettings& settings);
  void Settle();

  GainRamp client_;
  GainRamp duck_;
  GainRamp fade_;
  Motion motion_ = Motion::kPlaying;
  bool started_ = false;
  bool tail_planned_ = false;
};

}  // namespace speakerd
