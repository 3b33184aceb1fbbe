// A FrameSink that writes straight into a stream's ring (producer side).
//
// A resampling or widening conversion cannot know in advance exactly how
// many output frames an input block makes, so the block that fills the ring
// may overrun it. That excess is held aside ("spill", at most one block's
// output: Converter stops before a block once Room() is 0) and goes into the
// ring first, before any new frames, as soon as the ring has room again.
#pragma once

#include <algorithm>
#include <cstring>
#include <vector>

#include "frame_sink.h"
#include "stream_ring.h"

namespace speakerd {

class RingFrameSink final : public FrameSink {
 public:
  explicit RingFrameSink(StreamRing* ring) : ring_(ring), frame_bytes_(ring->frame_bytes()) {}

  size_t Room() override { return spilled() ? 0 : ring_->Writable(); }

  uint8_t* Reserve(size_t frames, size_t* granted) override {
    if (!spilled()) {
      const StreamRing::Space space = ring_->ContiguousSpace();
      if (space.frames > 0) {
        in_ring_ = true;
        *granted = std::min(frames, space.frames);
        return space.data;
      }
    }
    in_ring_ = false;
    reserved_at_ = spill_.size();
    spill_.resize(reserved_at_ + frames * frame_bytes_);
    *granted = frames;
    return spill_.data() + reserved_at_;
  }

  void Commit(size_t frames) override {
    if (in_ring_) {
      ring_->Publish(frames);
    } else {
      spill_.resize(reserved_at_ + frames * frame_bytes_);
    }
  }

  // Moves what was held aside into the ring; true once nothing is held.
  bool Drain() {
    if (!spilled()) return true;
    const size_t frames = (spill_.size() - spill_read_) / frame_bytes_;
    spill_read_ += ring_->Write(spill_.data() + spill_read_, frames) * frame_bytes_;
    if (spill_read_ < spill_.size()) return false;
    spill_.clear();  // keeps its capacity: a stream that spills once spills again
    spill_read_ = 0;
    return true;
  }

  size_t memory_bytes() const { return spill_.capacity(); }

 private:
  bool spilled() const { return spill_read_ < spill_.size(); }

  StreamRing* ring_;
  size_t frame_bytes_;
  bool in_ring_ = false;
  std::vector<uint8_t> spill_;
  size_t spill_read_ = 0;
  size_t reserved_at_ = 0;
};

}  // namespace speakerd
