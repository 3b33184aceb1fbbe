// Ogg Opus through opusfile, which does what opusdec does: the pre-skip and
// the last page's end trim (gapless), chained streams, output gain. Audio
// comes out as 48 kHz float, reordered from Vorbis to WAV channel order.
#include <opusfile.h>

#include <vector>

#include "audio_decoder.h"
#include "ogg_support.h"

namespace speakerd {
namespace {

constexpr unsigned kOpusRate = 48000;
// 120 ms at 48 kHz, the longest Opus packet, in every channel opusfile allows.
constexpr int kMaxFrames = 5760;
constexpr int kMaxChannels = 8;
// Errors in a row, with nothing decoded between them, after which the body
// is taken not to be Opus from there on.
constexpr int kMaxErrorsInARow = 64;

class OggOpusDecoder final : public AudioDecoder {
 public:
  DecodeReport Run(ByteSource* source, PcmSink* sink) override {
    source_ = source;
    const OpusFileCallbacks callbacks = {&ReadCallback, nullptr, nullptr, nullptr};
    int error = 0;
    OggOpusFile* file = op_open_callbacks(this, &callbacks, nullptr, 0, &error);
    if (file == nullptr) {
      FailDecode(&report_, Codec::kOggOpus, OpenError(error));
      return report_;
    }
    std::vector<float> decoded(kMaxFrames * kMaxChannels);
    std::vector<float> wav(kMaxFrames * kMaxChannels);
    int errors_in_a_row = 0;
    for (;;) {
      int link = 0;
      const int frames = op_read_float(file, decoded.data(), static_cast<int>(decoded.size()), &link);
      if (frames == 0) break;
      if (frames < 0) {
        // A hole (lost pages) or a packet libopus refused: opusfile goes on
        // with the next one.
        report_.decode_errors++;
        if (frames == OP_EREAD || ++errors_in_a_row >= kMaxErrorsInARow) break;
        continue;
      }
      errors_in_a_row = 0;
      const unsigned channels = static_cast<unsigned>(op_channel_count(file, link));
      const float* in = decoded.data();
      float* out = wav.data();
      for (int i = 0; i < frames; i++) {
        for (unsigned c = 0; c < channels; c++) out[c] = in[VorbisToWavChannel(channels, c)];
        in += channels;
        out += channels;
      }
      const AudioFormat format{SND_PCM_FORMAT_FLOAT_LE, kOpusRate, channels};
      decoded_ = true;
      if (!sink->Emit(format, reinterpret_cast<const uint8_t*>(wav.data()), static_cast<size_t>(frames))) {
        refused_ = true;
        break;
      }
    }
    op_free(file);
    if (!refused_) {
      if (!decoded_ && report_.decode_errors > 0) FailDecode(&report_, Codec::kOggOpus, "no packet could be decoded");
      report_.truncated = !end_watch_.EndedCleanly();
    }
    return report_;
  }

 private:
  static std::string OpenError(int error) {
    switch (error) {
      case OP_ENOTFORMAT:
        return "the Ogg stream does not start with an OpusHead (is it Vorbis?)";
      case OP_EBADHEADER:
        return "the OpusHead or OpusTags header is malformed";
      case OP_EVERSION:
        return "unsupported Opus header version";
      case OP_EREAD:
        return "the body ended before the Opus headers";
      default:
        return "opusfile error " + std::to_string(error);
    }
  }

  static int ReadCallback(void* data, unsigned char* buffer, int bytes) {
    auto* self = static_cast<OggOpusDecoder*>(data);
    const size_t got = self->source_->Read(buffer, static_cast<size_t>(bytes));
    self->end_watch_.Saw(buffer, got);
    return static_cast<int>(got);
  }

  ByteSource* source_ = nullptr;
  OggEndWatch end_watch_;
  DecodeReport report_;
  bool decoded_ = false;
  bool refused_ = false;
};

}  // namespace

std::unique_ptr<AudioDecoder> CreateOggOpusDecoder() { return std::make_unique<OggOpusDecoder>(); }

}  // namespace speakerd
