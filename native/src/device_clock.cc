#include "device_clock.h"

#include <algorithm>
#include <cmath>

namespace speakerd {

namespace {
// A line this far from the nominal rate is not a clock but a broken report
// (a pointer that jumped): start over rather than time frames by it.
constexpr double kMaxPlausiblePpm = 100000;
}  // namespace

DeviceClock::DeviceClock(unsigned rate, unsigned period_frames)
    : rate_(rate),
      period_frames_(period_frames),
      forget_(std::exp(-static_cast<double>(period_frames) / (rate * kWindowSeconds))),
      outlier_floor_ns_(std::max(kOutlierFloorNs, 1.5e9 * period_frames / rate)) {}

void DeviceClock::Restart() {
  if (!started_) return;
  started_ = false;
  ++generation_;
  Publish(ClockLine{false, 0, 0, 0, generation_, 0, 0});
}

void DeviceClock::Observe(int64_t ns, uint64_t played) {
  if (started_ && static_cast<double>(played) - origin_frames_ <= last_frames_) return;  // nothing new
  if (!started_) {
    started_ = true;
    origin_frames_ = static_cast<double>(played);
    origin_ns_ = static_cast<double>(ns);
    weight_ = mean_frames_ = mean_ns_ = co_frames_ = co_cross_ = 0;
    last_frames_ = -1;
    fitted_ = false;
    mean_square_ns_ = 0;
    outliers_in_a_row_ = 0;
  }
  const double x = static_cast<double>(played) - origin_frames_;
  const double y = static_cast<double>(ns) - origin_ns_;
  if (fitted_ && Outlier(y - (mean_ns_ + (x - mean_frames_) * (co_cross_ / co_frames_)))) return;
  // Forgetting by frames played, not by reports: a thread that wakes more
  // often must not shorten the window.
  const double forget = last_frames_ < 0 ? 1 : std::pow(forget_, (x - last_frames_) / period_frames_);
  last_frames_ = x;
  weight_ = forget * weight_ + 1;
  const double dx = x - mean_frames_;
  mean_frames_ += dx / weight_;
  const double dy = y - mean_ns_;
  mean_ns_ += dy / weight_;
  co_frames_ = forget * co_frames_ + dx * (x - mean_frames_);
  co_cross_ = forget * co_cross_ + dx * (y - mean_ns_);
  if (x < kMinSpanSeconds * rate_ || co_frames_ <= 0) return;
  fitted_ = true;

  ClockLine line;
  line.valid = true;
  line.frames = origin_frames_ + mean_frames_;
  line.ns = origin_ns_ + mean_ns_;
  line.ns_per_frame = co_cross_ / co_frames_;
  line.generation = generation_;
  line.residual_ns = y - (mean_ns_ + (x - mean_frames_) * line.ns_per_frame);
  line.span_frames = x;
  if (!(std::fabs(line.Ppm(rate_)) <= kMaxPlausiblePpm)) {
    Restart();
    return;
  }
  Publish(line);
}

// A report taken late (the thread preempted between reading the pointer and
// its time) lands far off a line that real clocks follow to microseconds:
// such a report is left out. Reports that stay off are not noise but a jump,
// and start a new line.
bool DeviceClock::Outlier(double residual_ns) {
  const double limit = std::max(outlier_floor_ns_, 4 * std::sqrt(mean_square_ns_));
  if (std::fabs(residual_ns) > limit) {
    if (++outliers_in_a_row_ >= kOutliersBeforeRestart) Restart();
    return true;
  }
  outliers_in_a_row_ = 0;
  mean_square_ns_ += (residual_ns * residual_ns - mean_square_ns_) / 64;
  return false;
}

void DeviceClock::Publish(const ClockLine& line) {
  const uint32_t sequence = sequence_.load(std::memory_order_relaxed);
  sequence_.store(sequence + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  valid_.store(line.valid, std::memory_order_relaxed);
  frames_.store(line.frames, std::memory_order_relaxed);
  ns_.store(line.ns, std::memory_order_relaxed);
  ns_per_frame_.store(line.ns_per_frame, std::memory_order_relaxed);
  generation_published_.store(line.generation, std::memory_order_relaxed);
  residual_ns_.store(line.residual_ns, std::memory_order_relaxed);
  span_frames_.store(line.span_frames, std::memory_order_relaxed);
  sequence_.store(sequence + 2, std::memory_order_release);
}

ClockLine DeviceClock::Line() const {
  for (;;) {
    const uint32_t before = sequence_.load(std::memory_order_acquire);
    if (before & 1) continue;  // the playback thread is mid-write: a few stores
    ClockLine line;
    line.valid = valid_.load(std::memory_order_relaxed);
    line.frames = frames_.load(std::memory_order_relaxed);
    line.ns = ns_.load(std::memory_order_relaxed);
    line.ns_per_frame = ns_per_frame_.load(std::memory_order_relaxed);
    line.generation = generation_published_.load(std::memory_order_relaxed);
    line.residual_ns = residual_ns_.load(std::memory_order_relaxed);
    line.span_frames = span_frames_.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (sequence_.load(std::memory_order_relaxed) == before) return line;
  }
}

}  // namespace speakerd
