#include "clock_lock.h"

#include <algorithm>

namespace speakerd {

double ClockLock::Ratio(uint64_t output_frame, double source_position) {
  const double nominal = static_cast<double>(source_rate_) / device_rate_;
  const ClockLine line = clock_->Line();
  // No line yet (the device has not run long enough): the nominal ratio,
  // which the first line then corrects.
  if (!line.valid) return nominal;
  const int64_t start = stream_->start_published.load(std::memory_order_acquire);
  // Where ring frame 0 plays: where the playback thread placed it, or, until
  // then, where it will place it.
  const double first = start != kUnplaced ? static_cast<double>(start) : line.PositionAt(static_cast<double>(stream_->at_ns));
  const double plays_ns = line.TimeOf(first + static_cast<double>(output_frame));
  const double belongs_ns = static_cast<double>(stream_->at_ns) + source_position * 1e9 / source_rate_;
  const double error_ns = plays_ns - belongs_ns;  // > 0: it would play late, so take the source faster
  stream_->sync_error_ns.store(error_ns, std::memory_order_relaxed);
  const double card_rate = source_rate_ * line.ns_per_frame / 1e9;
  return card_rate * (1 + std::clamp(error_ns / kHorizonNs, -kMaxCorrection, kMaxCorrection));
}

}  // namespace speakerd
