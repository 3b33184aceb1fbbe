// When frames reach the DAC: a line through the device's own status reports
// (snd_pcm_status: the time of its last hardware pointer update, and the
// delay of the next frame written), CLOCK_MONOTONIC ns against frames played
// since open. Its slope is the card's true sample period, so it also
// measures the card's drift against the system clock.
//
// A report is never early on a kernel driver: its time is taken with or
// after the pointer it stamps, and a pointer that moves in steps (a DMA
// period, snd-aloop's 4 ms timer tick) or a read that was preempted makes
// it late, by anything up to a step. So the line follows the lower edge of
// the reports, not their middle, whose lateness differs from driver to
// driver and from second to second: the reports of the last kWindowSeconds
// are cut into whole bins of kBinSeconds of frames, counted back from the
// newest; each bin gives its earliest report, and the line is the Theil-Sen
// fit through those: the median of the slopes between them, placed at the
// median. An alsa-lib plugin (ioplug) may stamp a report early, reading the
// pointer again after the time: behind one, a bin gives its second earliest
// once it has three, and a bin pulled early by two such strays is outvoted,
// where it would tilt a least-squares line. Behind a kernel driver the
// earliest is nearer: on a pointer that moves in 4 ms ticks the second
// earliest put the line 0.2 ms later (the harness's ticked drivers). A young line cuts what it has into
// kBinsWhenYoung bins (never shorter than a period), so that its first
// second already gives a slope: on snd-aloop a least-squares line through
// all the reports was tilted by up to 2000 ppm by the late ones near its
// end, and placed a stream a millisecond off.
//
// The playback thread observes and publishes; any thread reads the latest
// line through a seqlock, without waiting.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace speakerd {

// A line: the frame at device position `frames` (frames since open) reaches
// the DAC at `ns` (CLOCK_MONOTONIC), and each frame after it ns_per_frame later.
// Who stamps the reports, which decides whether one can be early (above).
enum class ReportStamps { kKernel, kPlugin };

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
  static constexpr double kBinSeconds = 0.25;
  static constexpr int kBinsWhenYoung = 8;
  // Reports kept: the whole window at up to 100 reports a second (a
  // playback thread that wakes more often fits over less than 10 s).
  static constexpr size_t kMaxReports = 1024;
  static constexpr size_t kMaxBins = static_cast<size_t>(kWindowSeconds / kBinSeconds) + 2;
  // Reports over this span before the line is trusted for timing.
  static constexpr double kMinSpanSeconds = 0.05;
  // A report further off the line than this, than one and a half periods,
  // and than 4 times the recent rms, is left out; this many in a row start a
  // new line. A driver's pointer may move a period (a DMA interrupt) or a
  // jiffy at a time, while its report's time is that of the read: such
  // reports scatter by up to a period and are the line's data (the late
  // side of its bins), not outliers.
  static constexpr double kOutlierFloorNs = 200000;
  static constexpr int kOutliersBeforeRestart = 50;

  DeviceClock(unsigned rate, unsigned period_frames, ReportStamps stamps);
  ~DeviceClock();
  DeviceClock(const DeviceClock&) = delete;
  DeviceClock& operator=(const DeviceClock&) = delete;

  // Playback thread: at `ns`, `played` frames had reached the DAC.
  void Observe(int64_t ns, uint64_t played);
  // Playback thread: the device stopped or lost frames; the next report starts a new line.
  void Restart();

  // Any thread.
  ClockLine Line() const;

 private:
  struct Report {
    double frames;  // relative to the origin
    double ns;
  };

  void Publish(const ClockLine& line);
  bool Outlier(double residual_ns);
  // The line through the window's bins; false if it has fewer than two.
  bool Fit(ClockLine* line);

  const unsigned rate_;
  const double period_frames_;
  const double outlier_floor_ns_;
  const ReportStamps stamps_;

  // Playback thread only.
  bool started_ = false;
  double origin_frames_ = 0;  // the first report of this generation: the window is relative to it
  double origin_ns_ = 0;
  // Mapped, not taken from the heap: with these 23 KiB from malloc, 90
  // unplug cycles on snd-aloop left the process 2.6-4.1 MiB larger (three
  // runs; 1.3-2.5 before they existed, 0.9-2.1 mapped), as each device's
  // block became a hole the next one did not fit back into.
  struct Storage {
    Report reports[kMaxReports];  // a ring, oldest at first_
    Report bin_points[kMaxBins];  // Fit's scratch: the bins' points, their slopes
    double slopes[kMaxBins * (kMaxBins - 1) / 2];
  };
  Storage* storage_;
  size_t first_ = 0;
  size_t count_ = 0;
  ClockLine line_;                  // the line published last in this generation
  double mean_square_ns_ = 0;       // of the residuals, recent
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
