// One Opus stream's packets to PCM, as opusdec makes it: the OpusHead's
// channel mapping and output gain, its pre-skip dropped from the start, and
// each decoded packet held until the next, so that the container can say
// how much of the last one's end is padding (an Ogg stream's final granule
// position, a WebM block's DiscardPadding). Ogg Opus and WebM share it.
// Audio comes out as 48 kHz float in WAV channel order.
#pragma once

#include <opus_multistream.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "audio_decoder.h"

namespace speakerd {

class OpusPacketDecoder {
 public:
  OpusPacketDecoder() = default;
  ~OpusPacketDecoder();
  OpusPacketDecoder(const OpusPacketDecoder&) = delete;
  OpusPacketDecoder& operator=(const OpusPacketDecoder&) = delete;

  // Starts a stream from its OpusHead (again, for a chained stream's next
  // link). False, with *error set, when it is not one libopus takes.
  bool Open(const uint8_t* head, size_t bytes, std::string* error);
  bool is_open() const { return decoder_ != nullptr; }

  enum class Result { kDecoded, kCorrupt, kRefused };
  // Emits the packet held, then decodes this one and holds it. kCorrupt: a
  // packet libopus refused (nothing held; the caller counts it). kRefused:
  // the sink will take no more.
  Result Decode(const uint8_t* packet, size_t bytes, PcmSink* sink);
  // Drops `frames` from the end of the packet held: its padding.
  void TrimHeld(uint64_t frames);
  // Emits the packet held; false once the sink refuses.
  bool Flush(PcmSink* sink);
  // Samples decoded since Open, the pre-skip included: what an Ogg granule
  // position counts.
  uint64_t decoded() const { return decoded_; }

 private:
  OpusMSDecoder* decoder_ = nullptr;
  unsigned channels_ = 0;
  bool vorbis_order_ = true;
  uint64_t skip_ = 0;  // pre-skip frames still to drop
  uint64_t held_ = 0;  // frames of the last packet, not emitted yet
  uint64_t decoded_ = 0;
  bool refused_ = false;
  std::vector<float> pcm_;
  std::vector<float> wav_;
};

}  // namespace speakerd
