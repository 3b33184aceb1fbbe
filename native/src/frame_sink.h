// Where a converter's output frames go. The converter asks for room, encodes
// into it in place and commits what it wrote, so that frames land in their
// final memory (a stream's ring: ring_frame_sink.h) with no buffer between.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace speakerd {

class FrameSink {
 public:
  virtual ~FrameSink() = default;

  // Frames the sink can take now without holding any aside. Converters that
  // map frames one to one take no more than this.
  virtual size_t Room() = 0;
  // Contiguous space for at least one and at most `frames` frames; *granted
  // says how many. Always grants something: a sink that is full holds the
  // excess aside until it drains.
  virtual uint8_t* Reserve(size_t frames, size_t* granted) = 0;
  // Publishes the first `frames` frames of the last Reserve.
  virtual void Commit(size_t frames) = 0;
};

// Appends to a vector: for whole-buffer conversion (createConverter, tests).
class VectorFrameSink final : public FrameSink {
 public:
  VectorFrameSink(std::vector<uint8_t>* out, size_t frame_bytes) : out_(out), frame_bytes_(frame_bytes) {}

  size_t Room() override { return std::numeric_limits<size_t>::max(); }

  uint8_t* Reserve(size_t frames, size_t* granted) override {
    reserved_at_ = out_->size();
    out_->resize(reserved_at_ + frames * frame_bytes_);
    *granted = frames;
    return out_->data() + reserved_at_;
  }

  void Commit(size_t frames) override { out_->resize(reserved_at_ + frames * frame_bytes_); }

 private:
  std::vector<uint8_t>* out_;
  size_t frame_bytes_;
  size_t reserved_at_ = 0;
};

}  // namespace speakerd
