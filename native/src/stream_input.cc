#include "stream_input.h"

#include <algorithm>

namespace speakerd {

namespace {
// A timed stream's input is converted in blocks of this many frames, and its
// ratio steered before a block once a quarter of a second of output has
// passed since the last: each new ratio rebuilds the resampler's filter
// table, which steering every block made cost more than the resampling.
constexpr size_t kSteeredBlockFrames = 1024;
constexpr unsigned kSteersPerSecond = 4;
}  // namespace

StreamInput::StreamInput(StreamRing* ring, const AudioFormat& device, std::unique_ptr<ClockLock> lock)
    : ring_(ring), device_(device), sink_(ring), lock_(std::move(lock)), input_frame_bytes_(ring->frame_bytes()) {
  // Until SetFormat says otherwise, frames come in the device's format.
  if (lock_) {
    DeviceError ignored;
    SetFormat(device, Converter::kDefaultQuality, &ignored);
  }
}

bool StreamInput::SetFormat(const AudioFormat& from, int quality, DeviceError* error) {
  if (lock_) {
    std::unique_ptr<Converter> converter = Converter::Create(from, device_, quality, error, true);
    if (!converter) return false;
    converter_ = std::move(converter);
    lock_->SetSourceRate(from.rate);
    input_frame_bytes_ = converter_->input_frame_bytes();
    return true;
  }
  if (from.format == device_.format && from.rate == device_.rate && from.channels == device_.channels) {
    converter_.reset();
    input_frame_bytes_ = ring_->frame_bytes();
    return true;
  }
  std::unique_ptr<Converter> converter = Converter::Create(from, device_, quality, error);
  if (!converter) return false;
  converter_ = std::move(converter);
  input_frame_bytes_ = converter_->input_frame_bytes();
  return true;
}

size_t StreamInput::Write(const uint8_t* in, size_t frames) {
  if (!sink_.Drain()) return 0;
  if (!converter_) return ring_->Write(in, frames);
  if (!lock_) return converter_->Convert(in, frames, &sink_);
  size_t taken = 0;
  // A timed stream is converted only so far ahead of when it plays
  // (clock_lock.h); a short write makes the producer wait, as for room.
  const uint64_t allowed_end = converter_->frames_out() + lock_->Headroom(converter_->frames_out());
  bool headroom = true;
  while (taken < frames && sink_.Room() > 0 && (headroom = converter_->frames_out() < allowed_end)) {
    if (!steered_ || converter_->frames_out() >= next_steer_) {
      converter_->SteerRatio(lock_->Ratio(converter_->frames_out(), converter_->source_position()));
      next_steer_ = converter_->frames_out() + device_.rate / kSteersPerSecond;
      steered_ = true;
    }
    const size_t block = std::min(kSteeredBlockFrames, frames - taken);
    const size_t took = converter_->Convert(in + taken * input_frame_bytes_, block, &sink_);
    taken += took;
    if (took < block) break;
  }
  if (headroom) {
    lock_->NoWait();
  } else {
    lock_->WaitForHeadroom(converter_->frames_out(), kSteeredBlockFrames);
  }
  return taken;
}

bool StreamInput::Finish() {
  if (converter_ && !flushed_) {
    converter_->Flush(&sink_);
    flushed_ = true;
  }
  return sink_.Drain();
}

size_t StreamInput::memory_bytes() const { return sink_.memory_bytes() + (converter_ ? converter_->memory_bytes() : 0); }

}  // namespace speakerd
