// Ogg Vorbis through vorbisfile, as oggdec decodes it: libvorbis trims the
// last packet to the final granule position (gapless). Audio comes out at
// the stream's rate, reordered from Vorbis to WAV channel order: as S16 for
// an S16 device, rounded and clipped in the same pass exactly as
// vorbisfile's ov_read (oggdec's output) does, else as float.
// Without it the header defines callback tables this file does not use.
#define OV_EXCLUDE_STATIC_CALLBACKS
#include <vorbis/vorbisfile.h>

#include <vector>

#include "audio_decoder.h"
#include "ogg_support.h"
#include "sample_codec.h"

namespace speakerd {
namespace {

constexpr int kMaxFramesPerRead = 4096;
constexpr int kMaxErrorsInARow = 64;

class OggVorbisDecoder final : public AudioDecoder {
 public:
  explicit OggVorbisDecoder(bool s16_out) : s16_out_(s16_out) {}

  DecodeReport Run(ByteSource* source, PcmSink* sink) override {
    source_ = source;
    const ov_callbacks callbacks = {&ReadCallback, nullptr, nullptr, nullptr};
    OggVorbis_File file;
    const int opened = ov_open_callbacks(this, &file, nullptr, 0, callbacks);
    if (opened != 0) {
      FailDecode(&report_, Codec::kOggVorbis, OpenError(opened));
      return report_;
    }
    std::vector<float> wav;
    std::vector<int16_t> wav_s16;
    int errors_in_a_row = 0;
    for (;;) {
      float** channels_pcm = nullptr;
      int link = 0;
      const long frames = ov_read_float(&file, &channels_pcm, kMaxFramesPerRead, &link);
      if (frames == 0) break;
      if (frames < 0) {
        // OV_HOLE: pages lost or corrupt; vorbisfile goes on with the next.
        report_.decode_errors++;
        if (frames != OV_HOLE || ++errors_in_a_row >= kMaxErrorsInARow) break;
        continue;
      }
      errors_in_a_row = 0;
      if (end_watch_.ReusedSerial()) {
        FailDecode(&report_, Codec::kOggVorbis,
                   "two links of the Ogg chain share a serial number (invalid Ogg, RFC 3533); re-mux it with distinct serial numbers");
        break;
      }
      const vorbis_info* info = ov_info(&file, -1);
      const unsigned channels = static_cast<unsigned>(info->channels);
      const uint8_t* audio;
      if (s16_out_) {
        wav_s16.resize(static_cast<size_t>(frames) * channels);
        Interleave(channels_pcm, channels, frames, wav_s16.data());
        audio = reinterpret_cast<const uint8_t*>(wav_s16.data());
      } else {
        wav.resize(static_cast<size_t>(frames) * channels);
        Interleave(channels_pcm, channels, frames, wav.data());
        audio = reinterpret_cast<const uint8_t*>(wav.data());
      }
      const AudioFormat format{s16_out_ ? SND_PCM_FORMAT_S16_LE : SND_PCM_FORMAT_FLOAT_LE,
                               static_cast<unsigned>(info->rate), channels};
      decoded_ = true;
      if (!sink->Emit(format, audio, static_cast<size_t>(frames))) {
        refused_ = true;
        break;
      }
    }
    ov_clear(&file);
    if (!refused_) {
      if (!decoded_ && report_.decode_errors > 0) FailDecode(&report_, Codec::kOggVorbis, "no packet could be decoded");
      report_.truncated = !end_watch_.EndedCleanly();
    }
    return report_;
  }

 private:
  static void Interleave(float** channels_pcm, unsigned channels, long frames, float* wav) {
    for (unsigned c = 0; c < channels; c++) {
      const float* in = channels_pcm[VorbisToWavChannel(channels, c)];
      float* out = wav + c;
      for (long i = 0; i < frames; i++, out += channels) *out = in[i];
    }
  }

  // The converter's own S16 rounding, which is ov_read's: the sample times
  // 32768, rounded half to even (vorbis_ftoi, lrintf) and clipped.
  static void Interleave(float** channels_pcm, unsigned channels, long frames, int16_t* wav) {
    for (unsigned c = 0; c < channels; c++) {
      const float* in = channels_pcm[VorbisToWavChannel(channels, c)];
      int16_t* out = wav + c;
      for (long i = 0; i < frames; i++, out += channels) {
        *out = static_cast<int16_t>(sample_codec::QuantizeClipped(in[i], sample_codec::kS16FullScale));
      }
    }
  }

  static std::string OpenError(int error) {
    switch (error) {
      case OV_ENOTVORBIS:
        return "the Ogg stream does not start with a Vorbis header (is it Opus?)";
      case OV_EBADHEADER:
        return "a Vorbis header is malformed";
      case OV_EVERSION:
        return "unsupported Vorbis version";
      case OV_EREAD:
      case OV_EFAULT:
        return "the body ended before the Vorbis headers";
      default:
        return "vorbisfile error " + std::to_string(error);
    }
  }

  static size_t ReadCallback(void* buffer, size_t size, size_t count, void* data) {
    auto* self = static_cast<OggVorbisDecoder*>(data);
    uint8_t* bytes = static_cast<uint8_t*>(buffer);
    const size_t got = self->source_->Read(bytes, size * count);
    self->end_watch_.Saw(bytes, got);
    return size == 0 ? 0 : got / size;
  }

  ByteSource* source_ = nullptr;
  OggEndWatch end_watch_;
  DecodeReport report_;
  const bool s16_out_;
  bool decoded_ = false;
  bool refused_ = false;
};

}  // namespace

std::unique_ptr<AudioDecoder> CreateOggVorbisDecoder(bool s16_out) { return std::make_unique<OggVorbisDecoder>(s16_out); }

}  // namespace speakerd
