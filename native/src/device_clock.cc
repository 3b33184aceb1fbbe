#include "device_clock.h"

#include <algorithm>
#include <cmath>
#include <new>

#include <sys/mman.h>

namespace speakerd {

namespace {
// A line this far from the nominal rate is not a clock but a broken report
// (a pointer that jumped): start over rather than time frames by it.
constexpr double kMaxPlausiblePpm = 100000;

double Median(double* values, size_t count) {
  double* middle = values + count / 2;
  std::nth_element(values, middle, values + count);
  if (count % 2) return *middle;
  return (*middle + *std::max_element(values, middle)) / 2;
}
}  // namespace

DeviceClock::DeviceClock(unsigned rate, unsigned period_frames, ReportStamps stamps)
    : rate_(rate),
      period_frames_(period_frames),
      outlier_floor_ns_(std::max(kOutlierFloorNs, 1.5e9 * period_frames / rate)),
      stamps_(stamps),
      storage_(static_cast<Storage*>(mmap(nullptr, sizeof(Storage), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))) {
  if (storage_ == MAP_FAILED) throw std::bad_alloc();
}

DeviceClock::~DeviceClock() { munmap(storage_, sizeof(Storage)); }

void DeviceClock::Restart() {
  if (!started_) return;
  started_ = false;
  ++generation_;
  Publish(ClockLine{false, 0, 0, 0, generation_, 0, 0});
}

void DeviceClock::Observe(int64_t ns, uint64_t played) {
  if (started_ && static_cast<double>(played) - origin_frames_ <= storage_->reports[(first_ + count_ - 1) % kMaxReports].frames) return;  // nothing new
  if (!started_) {
    started_ = true;
    origin_frames_ = static_cast<double>(played);
    origin_ns_ = static_cast<double>(ns);
    first_ = count_ = 0;
    line_ = ClockLine{};
    mean_square_ns_ = 0;
    outliers_in_a_row_ = 0;
  }
  const Report report{static_cast<double>(played) - origin_frames_, static_cast<double>(ns) - origin_ns_};
  if (line_.valid && Outlier(report.ns + origin_ns_ - line_.TimeOf(report.frames + origin_frames_))) return;
  if (count_ == kMaxReports) {
    first_ = (first_ + 1) % kMaxReports;
    --count_;
  }
  storage_->reports[(first_ + count_++) % kMaxReports] = report;
  const double window_frames = kWindowSeconds * rate_;
  while (report.frames - storage_->reports[first_].frames > window_frames) {
    first_ = (first_ + 1) % kMaxReports;
    --count_;
  }
  if (report.frames < kMinSpanSeconds * rate_) return;

  ClockLine line;
  if (!Fit(&line)) return;
  line.residual_ns = static_cast<double>(ns) - line.TimeOf(static_cast<double>(played));
  line.span_frames = report.frames;
  if (!(std::fabs(line.Ppm(rate_)) <= kMaxPlausiblePpm)) {
    Restart();
    return;
  }
  line_ = line;
  Publish(line);
}

bool DeviceClock::Fit(ClockLine* line) {
  const Report& oldest = storage_->reports[first_];
  const Report& newest = storage_->reports[(first_ + count_ - 1) % kMaxReports];
  const double span = newest.frames - oldest.frames;
  const double bin_frames = std::max(period_frames_, std::min(span / kBinsWhenYoung, kBinSeconds * rate_));
  // Whole bins only, counted back from the newest report: a bin that has
  // only begun to fill has no early report yet, and would pull the line's
  // end late.
  const double bins = std::floor(span / bin_frames);
  // Reports are ranked within a bin by their time less the nominal time of
  // their frame: across a bin the card's drift moves that by nanoseconds.
  const double nominal_ns = 1e9 / rate_;
  size_t points = 0;
  const Report* earliest = nullptr;
  const Report* second = nullptr;
  int in_bin = 0;
  double bin = -1;
  auto close_bin = [&] {
    if (earliest == nullptr || points == kMaxBins) return;
    storage_->bin_points[points++] = stamps_ == ReportStamps::kPlugin && in_bin > 2 ? *second : *earliest;
  };
  for (size_t i = 0; i < count_; ++i) {
    const Report& report = storage_->reports[(first_ + i) % kMaxReports];
    const double this_bin = std::floor((newest.frames - report.frames) / bin_frames);
    if (this_bin >= bins) continue;
    if (this_bin != bin) {
      close_bin();
      bin = this_bin;
      earliest = second = nullptr;
      in_bin = 0;
    }
    ++in_bin;
    const double lateness = report.ns - report.frames * nominal_ns;
    if (earliest == nullptr || lateness < earliest->ns - earliest->frames * nominal_ns) {
      second = earliest;
      earliest = &report;
    } else if (second == nullptr || lateness < second->ns - second->frames * nominal_ns) {
      second = &report;
    }
  }
  close_bin();
  if (points < 2) return false;

  // Theil-Sen: the median of the slopes between bins, and the median place
  // by it. A bin given early by two strays of a plugin is one of many and
  // moves neither median, as it would move a least-squares line.
  size_t slopes = 0;
  for (size_t i = 0; i < points; ++i) {
    for (size_t j = i + 1; j < points; ++j) {
      const double dx = storage_->bin_points[j].frames - storage_->bin_points[i].frames;
      if (dx > 0) storage_->slopes[slopes++] = (storage_->bin_points[j].ns - storage_->bin_points[i].ns) / dx;
    }
  }
  if (slopes == 0) return false;
  const double ns_per_frame = Median(storage_->slopes, slopes);
  for (size_t i = 0; i < points; ++i) storage_->slopes[i] = storage_->bin_points[i].ns - storage_->bin_points[i].frames * ns_per_frame;
  const double ns_at_origin = Median(storage_->slopes, points);
  const double frames = storage_->bin_points[points - 1].frames;
  line->valid = true;
  line->frames = origin_frames_ + frames;
  line->ns = origin_ns_ + ns_at_origin + frames * ns_per_frame;
  line->ns_per_frame = ns_per_frame;
  line->generation = generation_;
  return true;
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
