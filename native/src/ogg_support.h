// Ogg and its codecs' conventions: the Vorbis channel order (which Opus
// uses too, in Ogg and in WebM), and, for vorbisfile, which does not say,
// whether a body ended where its stream did.
#pragma once

#include <ogg/ogg.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace speakerd {

// Vorbis channel order (Opus mapping family 1 uses it too) → WAV's: the
// input channel that feeds each output channel, for 1–8 channels. The same
// table as opusdec's and oggdec's when they write WAV.
inline unsigned VorbisToWavChannel(unsigned channels, unsigned wav_channel) {
  static const unsigned char kOrder[8][8] = {{0},
                                             {0, 1},
                                             {0, 2, 1},
                                             {0, 1, 2, 3},
                                             {0, 2, 1, 3, 4},
                                             {0, 2, 1, 5, 3, 4},
                                             {0, 2, 1, 6, 5, 3, 4},
                                             {0, 2, 1, 7, 5, 6, 3, 4}};
  return channels >= 1 && channels <= 8 ? kOrder[channels - 1][wav_channel] : wav_channel;
}

// Watches the body's bytes go by on their way to the codec library and tells,
// at the end, whether the last page was whole and ended its stream (the EOS
// flag): anything else means the body was cut short. libogg reads the pages
// (the libraries do not say).
class OggEndWatch {
 public:
  OggEndWatch() { ogg_sync_init(&sync_); }
  ~OggEndWatch() { ogg_sync_clear(&sync_); }
  OggEndWatch(const OggEndWatch&) = delete;
  OggEndWatch& operator=(const OggEndWatch&) = delete;

  void Saw(const uint8_t* bytes, size_t count) {
    if (count == 0) return;
    char* buffer = ogg_sync_buffer(&sync_, static_cast<long>(count));
    if (buffer == nullptr) return;
    std::memcpy(buffer, bytes, count);
    ogg_sync_wrote(&sync_, static_cast<long>(count));
    ogg_page page;
    // Pages are only looked at, never kept: ogg_sync_pageseek skips garbage too.
    for (;;) {
      const long result = ogg_sync_pageseek(&sync_, &page);
      if (result == 0) break;
      if (result <= 0) continue;
      last_page_eos_ = ogg_page_eos(&page) != 0;
      const int serial = ogg_page_serialno(&page);
      if (ogg_page_bos(&page)) {
        // A link of a chain whose serial number an earlier link had: invalid
        // (RFC 3533), and vorbisfile would take it for the same stream.
        for (int seen : serials_) reused_serial_ = reused_serial_ || seen == serial;
        if (serials_.size() < kSerialsKept) serials_.push_back(serial);
      }
    }
  }

  // A chain's link began with the serial number of an earlier one.
  bool ReusedSerial() const { return reused_serial_; }

  // True when the body ended on a whole page that closes its stream.
  bool EndedCleanly() const { return last_page_eos_ && sync_.fill == sync_.returned; }

 private:
  static constexpr size_t kSerialsKept = 64;  // links remembered: bounded, whatever the chain
  ogg_sync_state sync_;
  bool last_page_eos_ = false;
  std::vector<int> serials_;
  bool reused_serial_ = false;
};

}  // namespace speakerd
