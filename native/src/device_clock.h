// When frames reach the DAC: a line fitted through the device's own status
// reports (snd_pcm_status: the time of its last hardware pointer update, and
// the delay of the next frame written), CLOCK_MONOTONIC ns against frames
// played since open. Its slope is the card's true sample period, so it also
// measures the card's drift against the system clock.
//
// The fit is least squares with exponential forgetting (a window of about
// kWindowSeconds): a card whose pointer moves in steps (a DMA period, a
// jiffy) or whose reports jitter is averaged, and a drift that wanders
// (temperature) is followed. Running means and co-moments keep the sums
// small, so doubles lose nothing over hours.
//
// The playback thread observes and publishes; any thread reads the latest
// line through a seqlock, without waiting.
#pragma once

#include <atomic>
#include <cstdint>

namespace speakerd {

// A line: the frame at device position `frames` (frames since open) reaches
// the DAC at `ns` (CLOCK_MONOTONIC), and each frame after it ns_per_frame later.
struct ClockLine {
  bool valid = false;
  double frames = 0;
  double ns = 0;
  double ns_per_frame = 0;
  uint32_t generation = 0;  // counts restarts: a new generation is a new timeline
  double residual_ns = 0;   // the last report's distance from the line it made
  double span_frames = 0;   // between the first and the last report of this generation

  double TimeOf(double position) const { return ns + (position - frames) * ns_per_frame; }
  double PositionAt(double time_ns) const { return frames + (time_ns - ns) / ns_per_frame; }
  // How far the card's rate is off its nominal rate, in parts per million.
  double Ppm(unsigned rate) const { return (1e9 / (ns_per_frame * rate) - 1) * 1e6; }
};

class DeviceClock {
 public:
  static constexpr double kWindowSeconds = 10;
  // Reports over this span before the line is trusted for timing.
  static constexpr double kMinSpanSeconds = 0.05;
  // A report further off the line than this, than one and a half periods,
  // and than 4 times the recent rms, is left out; this many in a row start a
  // new line. A driver's pointer may move a period (a DMA interrupt) or a
  // jiffy at a time, while its report's time is that of the read: such
  // reports scatter by up to a period and are the line's data, not outliers.
  static constexpr double kOutlierFloorNs = 200000;
  static constexpr int kOutliersBeforeRestart = 50;

  DeviceClock(unsigned rate, unsigned period_frames);

  // Playback thread: at `ns`, `played` frames had reached the DAC.
  void Observe(int64_t ns, uint64_t played);
  // Playback thread: the device stopped or lost frames; the next report starts a new line.
  void Restart();

  // Any thread.
  ClockLine Line() const;

 private:
  void Publish(const ClockLine& line);
  bool Outlier(double residual_ns);

  const unsigned rate_;
  const double period_frames_;
  const double forget_;  // weight left to the past over one period
  const double outlier_floor_ns_;

  // Playback thread only.
  bool started_ = false;
  double origin_frames_ = 0;  // the first report of this generation: sums are relative to it
  double origin_ns_ = 0;
  double weight_ = 0;
  double mean_frames_ = 0;
  double mean_ns_ = 0;
  double co_frames_ = 0;  // Σ w (x - x̄)²
  double co_cross_ = 0;   // Σ w (x - x̄)(y - ȳ)
  double last_frames_ = -1;  // relative to the origin; -1: no report yet
  bool fitted_ = false;        // a line has been published in this generation
  double mean_square_ns_ = 0;  // of the residuals, recent
  int outliers_in_a_row_ = 0;
  uint32_t generation_ = 0;

  // The seqlock: odd while the playback thread writes.
  std::atomic<uint32_t> sequence_{0};
  std::atomic<bool> valid_{false};
  std::atomic<double> frames_{0};
  std::atomic<double> ns_{0};
  std::atomic<double> ns_per_frame_{0};
  std::atomic<uint32_t> generation_published_{0};
  std::atomic<double> residual_ns_{0};
  std::atomic<double> span_frames_{0};
};

}  // namespace speakerd
