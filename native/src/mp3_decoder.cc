// MPEG audio (MP3, and layers I and II) through libmpg123's feed interface,
// as the mpg123 program decodes it: ID3 tags skipped, and gapless (the LAME
// tag's encoder delay and padding removed). Audio comes out at the stream's
// rate, as S16 for an S16 device and float otherwise.
#include <mpg123.h>

#include <mutex>
#include <vector>

#include "audio_decoder.h"

namespace speakerd {
namespace {

constexpr size_t kReadBytes = 16384;
constexpr int kMaxErrorsInARow = 64;
// A corrupt stretch can look like a frame header of another rate or channel
// count, and libmpg123 then reports a new format. Frames in a new format
// are held back (counted as decode errors) until this many come in a row:
// only then is it the stream's own change, which the sink refuses.
constexpr int kFramesToTrustANewFormat = 8;

class Mp3Decoder final : public AudioDecoder {
 public:
  explicit Mp3Decoder(bool s16_out) : s16_out_(s16_out) {}

  DecodeReport Run(ByteSource* source, PcmSink* sink) override {
    static std::once_flag initialised;
    std::call_once(initialised, [] { mpg123_init(); });
    int error = MPG123_OK;
    mpg123_handle* handle = mpg123_new(nullptr, &error);
    if (handle == nullptr) {
      FailDecode(&report_, Codec::kMp3, mpg123_plain_strerror(error));
      return report_;
    }
    Decode(handle, source, sink);
    mpg123_delete(handle);
    return report_;
  }

 private:
  void Decode(mpg123_handle* handle, ByteSource* source, PcmSink* sink) {
    mpg123_param(handle, MPG123_FLAGS, MPG123_GAPLESS | MPG123_QUIET, 0.0);
    // Float, or S16 for an S16 device (libmpg123's own S16 synthesis, as
    // the mpg123 program writes it: bit-exact, and no conversion pass
    // after), at whatever rate and channel count each frame has: a change
    // of either is the stream's, and the sink decides about it.
    mpg123_format_none(handle);
    const long* rates = nullptr;
    size_t rate_count = 0;
    mpg123_rates(&rates, &rate_count);
    for (size_t i = 0; i < rate_count; i++) {
      mpg123_format(handle, rates[i], MPG123_MONO | MPG123_STEREO, s16_out_ ? MPG123_ENC_SIGNED_16 : MPG123_ENC_FLOAT_32);
    }
    if (mpg123_open_feed(handle) != MPG123_OK) {
      FailDecode(&report_, Codec::kMp3, mpg123_strerror(handle));
      return;
    }
    std::vector<uint8_t> input(kReadBytes);
    const snd_pcm_format_t sample_format = s16_out_ ? SND_PCM_FORMAT_S16_LE : SND_PCM_FORMAT_FLOAT_LE;
    const size_t sample_bytes = s16_out_ ? 2 : sizeof(float);
    AudioFormat format{sample_format, 0, 0};   // the frames' format, as libmpg123 last said
    AudioFormat playing{sample_format, 0, 0};  // the format of the frames emitted
    int frames_in_new_format = 0;
    bool input_ended = false;
    int errors_in_a_row = 0;
    uint64_t frames = 0;
    for (;;) {
      off_t frame_number = 0;
      unsigned char* audio = nullptr;
      size_t bytes = 0;
      const int result = mpg123_decode_frame(handle, &frame_number, &audio, &bytes);
      if (result == MPG123_NEED_MORE) {
        if (input_ended) break;
        const size_t got = source->Read(input.data(), input.size());
        if (got == 0) {
          input_ended = true;
          continue;  // one more call: the last frame may be whole
        }
        mpg123_feed(handle, input.data(), got);
        continue;
      }
      if (result == MPG123_NEW_FORMAT) {
        long rate = 0;
        int channels = 0;
        int encoding = 0;
        mpg123_getformat(handle, &rate, &channels, &encoding);
        format.rate = static_cast<unsigned>(rate);
        format.channels = static_cast<unsigned>(channels);
        if (playing.rate == 0) playing = format;
        continue;
      }
      if (result == MPG123_DONE) break;
      if (result != MPG123_OK) {
        report_.decode_errors++;
        if (++errors_in_a_row >= kMaxErrorsInARow) break;
        continue;
      }
      errors_in_a_row = 0;
      const size_t count = bytes / (sample_bytes * format.channels);
      if (count == 0) continue;
      if (format.rate != playing.rate || format.channels != playing.channels) {
        if (++frames_in_new_format < kFramesToTrustANewFormat) {
          report_.decode_errors++;
          continue;
        }
        playing = format;  // the sink hears of it, and decides
      }
      frames_in_new_format = 0;
      frames += count;
      if (!sink->Emit(format, audio, count)) return;
    }
    if (frames == 0) {
      FailDecode(&report_, Codec::kMp3, "no MPEG audio frame could be decoded");
      return;
    }
    // Bytes held back at the end are a frame the body cut; a LAME or Xing
    // header's length tells a body cut on a frame boundary.
    long held = 0;
    double unused = 0;
    mpg123_getstate(handle, MPG123_BUFFERFILL, &held, &unused);
    const off_t expected = mpg123_length(handle);
    report_.truncated = held > 0 || (expected > 0 && static_cast<uint64_t>(expected) > frames);
  }

  const bool s16_out_;
  DecodeReport report_;
};

}  // namespace

std::unique_ptr<AudioDecoder> CreateMp3Decoder(bool s16_out) { return std::make_unique<Mp3Decoder>(s16_out); }

}  // namespace speakerd
