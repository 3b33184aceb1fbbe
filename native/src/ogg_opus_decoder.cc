// Ogg Opus: libogg finds the pages and packets, libopus decodes them
// (opus_packet_decoder.h), as opusdec does through opusfile: the pre-skip dropped,
// the last page's granule position trimming the end (gapless), a chained
// stream's next link started from its own OpusHead.
//
// Not through opusfile itself: reading a body as it streams, opusfile ends
// the stream early and silently at some corrupt pages (a lost page of a
// second of audio, as opusenc writes by default), where here a lost page is
// a hole that is counted and skipped (docs/decisions.md, "Compressed audio").
#include <ogg/ogg.h>

#include <cstring>
#include <string>

#include "audio_decoder.h"
#include "ogg_support.h"
#include "opus_packet_decoder.h"

namespace speakerd {
namespace {

constexpr size_t kReadBytes = 16384;
constexpr int kMaxErrorsInARow = 64;

class OggOpusDecoder final : public AudioDecoder {
 public:
  OggOpusDecoder() {
    ogg_sync_init(&sync_);
    ogg_stream_init(&stream_, 0);
  }
  ~OggOpusDecoder() override {
    ogg_stream_clear(&stream_);
    ogg_sync_clear(&sync_);
  }

  DecodeReport Run(ByteSource* source, PcmSink* sink) override {
    sink_ = sink;
    for (;;) {
      char* buffer = ogg_sync_buffer(&sync_, kReadBytes);
      const size_t got = source->Read(reinterpret_cast<uint8_t*>(buffer), kReadBytes);
      ogg_sync_wrote(&sync_, static_cast<long>(got));
      if (!TakePages()) break;
      if (got == 0) break;
    }
    if (stopped_) return report_;
    if (!opus_.is_open() && report_.error.ok()) {
      FailDecode(&report_, Codec::kOggOpus, "the body ended before the Opus headers");
    }
    if (!report_.error.ok()) return report_;
    if (!opus_.Flush(sink_)) return report_;
    // The body must end on a whole page that closes its stream.
    report_.truncated = !(last_page_eos_ && sync_.fill == sync_.returned);
    return report_;
  }

 private:
  // Takes every whole page buffered; false when decoding must stop.
  bool TakePages() {
    ogg_page page;
    for (;;) {
      const int result = ogg_sync_pageout(&sync_, &page);
      if (result == 0) return true;
      // Bytes skipped to find the next page (a bad CRC, garbage): the lost
      // page shows as a hole in its stream, counted there.
      if (result < 0) continue;
      last_page_eos_ = ogg_page_eos(&page) != 0;
      if (ogg_page_bos(&page)) {
        // A link's first page. Alongside a stream that has not ended it is
        // another logical stream multiplexed in (a video, say): not ours.
        if (links_ > 0 && !stream_ended_) continue;
        if (!StartLink(ogg_page_serialno(&page))) return false;
      }
      if (links_ == 0 || ogg_page_serialno(&page) != serial_) continue;
      ogg_stream_pagein(&stream_, &page);
      if (!TakePackets()) return false;
    }
  }

  bool StartLink(int serial) {
    // What the last link held plays before the next begins.
    if (opus_.is_open() && !opus_.Flush(sink_)) return Stop();
    ogg_stream_reset_serialno(&stream_, serial);
    serial_ = serial;
    links_++;
    packets_in_link_ = 0;
    stream_ended_ = false;
    return true;
  }

  bool TakePackets() {
    ogg_packet packet;
    for (;;) {
      const int result = ogg_stream_packetout(&stream_, &packet);
      if (result == 0) return true;
      if (result < 0) {
        // A hole: pages of this stream were lost or corrupt.
        report_.decode_errors++;
        continue;
      }
      if (!TakePacket(packet)) return false;
    }
  }

  bool TakePacket(const ogg_packet& packet) {
    const uint64_t index = packets_in_link_++;
    if (packet.e_o_s) stream_ended_ = true;
    if (index == 0) {
      std::string error;
      if (packet.bytes < 8 || std::memcmp(packet.packet, "OpusHead", 8) != 0) {
        FailDecode(&report_, Codec::kOggOpus, "the Ogg stream does not start with an OpusHead (is it Vorbis?)");
        return false;
      }
      if (!opus_.Open(packet.packet, static_cast<size_t>(packet.bytes), &error)) {
        FailDecode(&report_, Codec::kOggOpus, "the OpusHead is malformed: " + error);
        return false;
      }
      return true;
    }
    if (index == 1) return true;  // OpusTags: nothing to play
    switch (opus_.Decode(packet.packet, static_cast<size_t>(packet.bytes), sink_)) {
      case OpusPacketDecoder::Result::kDecoded:
        errors_in_a_row_ = 0;
        break;
      case OpusPacketDecoder::Result::kCorrupt:
        report_.decode_errors++;
        return ++errors_in_a_row_ < kMaxErrorsInARow;
      case OpusPacketDecoder::Result::kRefused:
        return Stop();
    }
    // The last page's granule position counts the samples the link has,
    // its pre-skip included: what was decoded beyond it is padding.
    if (packet.e_o_s && packet.granulepos >= 0 && opus_.decoded() > static_cast<uint64_t>(packet.granulepos)) {
      opus_.TrimHeld(opus_.decoded() - static_cast<uint64_t>(packet.granulepos));
    }
    return true;
  }

  bool Stop() {
    stopped_ = true;
    return false;
  }

  ogg_sync_state sync_;
  ogg_stream_state stream_;
  PcmSink* sink_ = nullptr;
  OpusPacketDecoder opus_;
  DecodeReport report_;
  int serial_ = 0;
  int links_ = 0;
  uint64_t packets_in_link_ = 0;
  bool stream_ended_ = false;
  bool last_page_eos_ = false;
  int errors_in_a_row_ = 0;
  bool stopped_ = false;  // the sink refused
};

}  // namespace

std::unique_ptr<AudioDecoder> CreateOggOpusDecoder() { return std::make_unique<OggOpusDecoder>(); }

}  // namespace speakerd
