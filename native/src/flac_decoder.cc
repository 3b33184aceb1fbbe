// FLAC through libFLAC's stream decoder. Samples keep their exact values:
// 16-bit audio comes out as S16_LE, 24-bit as S24_3LE, 32-bit as S32_LE,
// and the other widths (8, 12, 20 bits) shifted up into the next of those,
// which is lossless; so a device in the source's format plays it bit-exact.
// FLAC's channel order for 1–8 channels is WAV's.
#include <FLAC/stream_decoder.h>

#include <cstring>
#include <vector>

#include "audio_decoder.h"
#include "sample_codec.h"

namespace speakerd {
namespace {

class FlacDecoder final : public AudioDecoder {
 public:
  DecodeReport Run(ByteSource* source, PcmSink* sink) override {
    source_ = source;
    sink_ = sink;
    FLAC__StreamDecoder* decoder = FLAC__stream_decoder_new();
    if (decoder == nullptr) {
      FailDecode(&report_, Codec::kFlac, "out of memory");
      return report_;
    }
    const FLAC__StreamDecoderInitStatus init = FLAC__stream_decoder_init_stream(
        decoder, &ReadCallback, nullptr, &TellCallback, nullptr, nullptr, &WriteCallback, &MetadataCallback,
        &ErrorCallback, this);
    if (init != FLAC__STREAM_DECODER_INIT_STATUS_OK) {
      FailDecode(&report_, Codec::kFlac, FLAC__StreamDecoderInitStatusString[init]);
    } else {
      FLAC__stream_decoder_process_until_end_of_stream(decoder);
      Conclude(FLAC__stream_decoder_get_state(decoder));
    }
    FLAC__stream_decoder_delete(decoder);
    return report_;
  }

 private:
  void Conclude(FLAC__StreamDecoderState state) {
    if (refused_) return;  // the sink stopped us: nothing more to say
    // Nothing decoded: no STREAMINFO, or one followed by no frame that
    // decodes. An empty FLAC (STREAMINFO, no frame, no error) plays nothing.
    if (frames_ == 0 && (!metadata_ok_ || report_.decode_errors > 0)) {
      FailDecode(&report_, Codec::kFlac, std::string(metadata_ok_ ? "no audio frame" : "no STREAMINFO or audio frame") + " could be read (" +
                                             std::string(FLAC__StreamDecoderStateString[state]) + ")");
      return;
    }
    // A STREAMINFO that states the length tells a short body even when it
    // ends on a frame boundary; without one (a streaming encoder's), bytes
    // left after the last whole frame mean the body ended inside one.
    if (total_samples_ != 0) {
      report_.truncated = frames_ < total_samples_;
    } else {
      report_.truncated = bytes_read_ > frames_end_;
    }
  }

  static FLAC__StreamDecoderReadStatus ReadCallback(const FLAC__StreamDecoder*, FLAC__byte buffer[], size_t* bytes,
                                                    void* data) {
    auto* self = static_cast<FlacDecoder*>(data);
    const size_t got = self->source_->Read(buffer, *bytes);
    *bytes = got;
    self->bytes_read_ += got;
    return got == 0 ? FLAC__STREAM_DECODER_READ_STATUS_END_OF_STREAM : FLAC__STREAM_DECODER_READ_STATUS_CONTINUE;
  }

  // Lets FLAC__stream_decoder_get_decode_position say where a frame ends.
  static FLAC__StreamDecoderTellStatus TellCallback(const FLAC__StreamDecoder*, FLAC__uint64* offset, void* data) {
    *offset = static_cast<FlacDecoder*>(data)->bytes_read_;
    return FLAC__STREAM_DECODER_TELL_STATUS_OK;
  }

  static void MetadataCallback(const FLAC__StreamDecoder*, const FLAC__StreamMetadata* metadata, void* data) {
    auto* self = static_cast<FlacDecoder*>(data);
    if (metadata->type != FLAC__METADATA_TYPE_STREAMINFO) return;
    self->metadata_ok_ = true;
    self->total_samples_ = metadata->data.stream_info.total_samples;
  }

  static void ErrorCallback(const FLAC__StreamDecoder*, FLAC__StreamDecoderErrorStatus, void* data) {
    // Lost sync, a bad header, a CRC mismatch: libFLAC resynchronises on the
    // next frame (a frame whose CRC fails is played as silence).
    static_cast<FlacDecoder*>(data)->report_.decode_errors++;
  }

  static FLAC__StreamDecoderWriteStatus WriteCallback(const FLAC__StreamDecoder* decoder, const FLAC__Frame* frame,
                                                      const FLAC__int32* const buffer[], void* data) {
    auto* self = static_cast<FlacDecoder*>(data);
    FLAC__uint64 position;
    if (FLAC__stream_decoder_get_decode_position(decoder, &position)) self->frames_end_ = position;
    if (!self->Write(frame->header, buffer)) {
      self->refused_ = true;
      return FLAC__STREAM_DECODER_WRITE_STATUS_ABORT;
    }
    return FLAC__STREAM_DECODER_WRITE_STATUS_CONTINUE;
  }

  bool Write(const FLAC__FrameHeader& header, const FLAC__int32* const buffer[]) {
    const unsigned bits = header.bits_per_sample;
    const unsigned channels = header.channels;
    const size_t count = header.blocksize;
    AudioFormat format{SND_PCM_FORMAT_S32_LE, header.sample_rate, channels};
    unsigned bytes = 4;
    if (bits <= 16) {
      format.format = SND_PCM_FORMAT_S16_LE;
      bytes = 2;
    } else if (bits <= 24) {
      format.format = SND_PCM_FORMAT_S24_3LE;
      bytes = 3;
    }
    const unsigned shift = bytes * 8 - bits;
    pcm_.resize(count * channels * bytes);
    uint8_t* out = pcm_.data();
    for (size_t i = 0; i < count; i++) {
      for (unsigned c = 0; c < channels; c++) {
        // Unsigned: shifting a negative value left is undefined before C++20.
        const uint32_t sample = static_cast<uint32_t>(buffer[c][i]) << shift;
        for (unsigned b = 0; b < bytes; b++) *out++ = static_cast<uint8_t>(sample >> (8 * b));
      }
    }
    frames_ += count;
    return sink_->Emit(format, pcm_.data(), count);
  }

  ByteSource* source_ = nullptr;
  PcmSink* sink_ = nullptr;
  DecodeReport report_;
  std::vector<uint8_t> pcm_;
  uint64_t frames_ = 0;
  uint64_t total_samples_ = 0;  // from STREAMINFO; 0: not stated
  bool metadata_ok_ = false;
  uint64_t bytes_read_ = 0;
  uint64_t frames_end_ = 0;  // the body offset where the last whole frame ended
  bool refused_ = false;
};

}  // namespace

std::unique_ptr<AudioDecoder> CreateFlacDecoder() { return std::make_unique<FlacDecoder>(); }

}  // namespace speakerd
