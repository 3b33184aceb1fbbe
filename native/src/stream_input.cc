#include "stream_input.h"

namespace speakerd {

StreamInput::StreamInput(StreamRing* ring, const AudioFormat& device)
    : ring_(ring), device_(device), sink_(ring), input_frame_bytes_(ring->frame_bytes()) {}

bool StreamInput::SetFormat(const AudioFormat& from, int quality, DeviceError* error) {
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
  return converter_->Convert(in, frames, &sink_);
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
