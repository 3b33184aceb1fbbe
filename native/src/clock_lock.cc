#include "clock_lock.h"

#include <algorithm>

#include "system_clocks.h"

namespace speakerd {

double ClockLock::Ratio(uint64_t output_frame, double source_position) {
  const double nominal = static_cast<double>(source_rate_) / device_rate_;
  const ClockLine line = clock_->Line();
  // No line yet (the device has not run long enough): the nominal ratio,
  // which the first line then corrects.
  if (!line.valid) return nominal;
  const double plays_ns = line.TimeOf(FirstFrame(line) + static_cast<double>(output_frame));
  const double belongs_ns = static_cast<double>(stream_->at_ns) + source_position * 1e9 / source_rate_;
  const double error_ns = plays_ns - belongs_ns;  // > 0: it would play late, so take the source faster
  stream_->sync_error_ns.store(error_ns, std::memory_order_relaxed);
  const bool rate_known = line.span_frames * line.ns_per_frame >= kFeedForwardSpanNs;
  const double card_rate = rate_known ? source_rate_ * line.ns_per_frame / 1e9 : nominal;
  return card_rate * (1 + std::clamp(error_ns / kHorizonNs, -kMaxCorrection, kMaxCorrection));
}

uint64_t ClockLock::Headroom(uint64_t output_frame) const {
  const ClockLine line = clock_->Line();
  if (!line.valid) {
    const double lead_frames = kMinLeadNs * device_rate_ / 1e9;
    return static_cast<uint64_t>(std::max(0.0, lead_frames - static_cast<double>(output_frame)));
  }
  const double last_allowed = line.PositionAt(static_cast<double>(MonotonicNowNs()) + LeadNs(line)) - FirstFrame(line);
  return static_cast<uint64_t>(std::max(0.0, last_allowed - static_cast<double>(output_frame)));
}

void ClockLock::WaitForHeadroom(uint64_t output_frame, uint64_t block) {
  const ClockLine line = clock_->Line();
  // No line yet: it comes within the device's first reports; look again soon.
  if (!line.valid) {
    stream_->convert_at_ns.store(MonotonicNowNs() + 20000000, std::memory_order_relaxed);
    return;
  }
  // Half the lead, as a plain stream is woken at half a free ring, but never
  // leaving less than kMinLeadNs converted: a young line's lead is no more,
  // and woken at half of it the emulated card ran dry once (snd-aloop, a
  // stream that came with the device).
  const double lead_ns = LeadNs(line);
  const double wake_ns = std::min(lead_ns / 2, lead_ns - kMinLeadNs);
  const double wake_frames = std::max(static_cast<double>(block), wake_ns / line.ns_per_frame);
  const double at_ns = line.TimeOf(FirstFrame(line) + static_cast<double>(output_frame) + wake_frames) - lead_ns;
  stream_->convert_at_ns.store(static_cast<int64_t>(at_ns), std::memory_order_relaxed);
}

double ClockLock::LeadNs(const ClockLine& line) {
  return std::clamp(line.span_frames * line.ns_per_frame, kMinLeadNs, kMaxLeadNs);
}

double ClockLock::FirstFrame(const ClockLine& line) const {
  const int64_t start = stream_->start_published.load(std::memory_order_acquire);
  return start != kUnplaced ? static_cast<double>(start) : line.PositionAt(static_cast<double>(stream_->at_ns));
}

}  // namespace speakerd
