// A lock-free single-producer single-consumer ring of audio frames.
//
// The producer is the JS thread (Stream.write, through StreamInput), the
// consumer the playback thread. Capacity is a power of two in frames; the
// indices run free as 64-bit counters and are masked on use, so "full" and
// "empty" never need a spare slot (kfifo). Each side reads its own index
// relaxed (only it writes it), reads the other side's index with acquire and
// publishes its own with release. Each side also keeps a cached copy of the
// other's index so that the shared cache line is touched only when the cached
// view says there is no room or no data (Rigtorp's SPSCQueue).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

namespace speakerd {

class StreamRing {
 public:
  // Two contiguous runs of frames; the second is empty unless the range wraps.
  struct Regions {
    const uint8_t* first;
    size_t first_frames;
    const uint8_t* second;
    size_t second_frames;
    size_t frames() const { return first_frames + second_frames; }
  };

  StreamRing(size_t capacity_frames, size_t frame_bytes)
      : capacity_(RoundUpToPowerOfTwo(capacity_frames)),
        mask_(capacity_ - 1),
        frame_bytes_(frame_bytes),
        data_(new uint8_t[capacity_ * frame_bytes]) {}

  StreamRing(const StreamRing&) = delete;
  StreamRing& operator=(const StreamRing&) = delete;

  size_t capacity() const { return capacity_; }
  size_t frame_bytes() const { return frame_bytes_; }
  size_t bytes() const { return capacity_ * frame_bytes_; }

  // Producer side. Copies as many whole frames of src as fit and returns how
  // many. Never blocks.
  size_t Write(const uint8_t* src, size_t frames) {
    const uint64_t head = head_.load(std::memory_order_relaxed);
    if (capacity_ - (head - cached_tail_) < frames) {
      // Acquire pairs with the consumer's release in Consume(): once we see its
      // new tail, its reads of those frames have finished, so we may overwrite.
      cached_tail_ = tail_.load(std::memory_order_acquire);
    }
    const size_t room = capacity_ - static_cast<size_t>(head - cached_tail_);
    const size_t n = std::min(room, frames);
    if (n == 0) return 0;
    const size_t start = static_cast<size_t>(head & mask_);
    const size_t first = std::min(n, capacity_ - start);
    std::memcpy(data_.get() + start * frame_bytes_, src, first * frame_bytes_);
    if (n > first) {
      std::memcpy(data_.get(), src + first * frame_bytes_, (n - first) * frame_bytes_);
    }
    // Release orders the memcpy above before the new head becomes visible, so
    // the consumer never reads frames that are still being written.
    head_.store(head + n, std::memory_order_release);
    return n;
  }

  // Producer side: the free frames after the head up to the end of the
  // buffer, to be filled in place and published with Publish(). A converter
  // encodes straight into it (ring_frame_sink.h).
  struct Space {
    uint8_t* data;
    size_t frames;
  };
  Space ContiguousSpace() {
    const uint64_t head = head_.load(std::memory_order_relaxed);
    cached_tail_ = tail_.load(std::memory_order_acquire);  // pairs with Consume()
    const size_t free = capacity_ - static_cast<size_t>(head - cached_tail_);
    const size_t start = static_cast<size_t>(head & mask_);
    return Space{data_.get() + start * frame_bytes_, std::min(free, capacity_ - start)};
  }

  // Producer side: makes `frames` frames written into ContiguousSpace()
  // visible to the consumer (release: as in Write()).
  void Publish(size_t frames) {
    head_.store(head_.load(std::memory_order_relaxed) + frames, std::memory_order_release);
  }

  // Producer side: free frames as the producer sees them now.
  size_t Writable() {
    cached_tail_ = tail_.load(std::memory_order_acquire);  // pairs with Consume()
    return capacity_ - static_cast<size_t>(head_.load(std::memory_order_relaxed) - cached_tail_);
  }

  // Consumer side: frames ready to read.
  size_t Readable() {
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    // Acquire pairs with the release in Write(): the frames below the head we
    // read here are fully written.
    cached_head_ = head_.load(std::memory_order_acquire);
    return static_cast<size_t>(cached_head_ - tail);
  }

  // Consumer side: a view of up to max_frames readable frames, valid until
  // Consume(). Uses the head observed by the last Readable().
  Regions Peek(size_t max_frames) const {
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    const size_t n = std::min(max_frames, static_cast<size_t>(cached_head_ - tail));
    const size_t start = static_cast<size_t>(tail & mask_);
    const size_t first = std::min(n, capacity_ - start);
    return Regions{data_.get() + start * frame_bytes_, first, data_.get(), n - first};
  }

  void Consume(size_t frames) {
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    // Release orders our reads of the consumed frames before the producer can
    // see the space as free and overwrite it.
    tail_.store(tail + frames, std::memory_order_release);
  }

  // Either side, for reporting only: a momentary fill level.
  size_t Fill() const {
    return static_cast<size_t>(head_.load(std::memory_order_acquire) -
                               tail_.load(std::memory_order_acquire));
  }

  static size_t RoundUpToPowerOfTwo(size_t n) {
    size_t p = 1;
    while (p < n) p <<= 1;
    return p;
  }

 private:
  const size_t capacity_;
  const size_t mask_;
  const size_t frame_bytes_;
  const std::unique_ptr<uint8_t[]> data_;

  // Producer-owned line: its index and its cached view of the consumer's.
  alignas(64) std::atomic<uint64_t> head_{0};
  uint64_t cached_tail_ = 0;
  // Consumer-owned line.
  alignas(64) std::atomic<uint64_t> tail_{0};
  uint64_t cached_head_ = 0;
};

}  // namespace speakerd
