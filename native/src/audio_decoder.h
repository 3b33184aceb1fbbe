// One compressed body's decoder: a codec library driven through its own
// synchronous read interface. It runs on the stream's decode thread
// (decode_thread.h), pulls the body's bytes from a ByteSource and pushes
// PCM into a PcmSink; both block, which is what libFLAC's and vorbisfile's
// read callbacks expect, and what lets libogg's, libmpg123's and libwebm's
// push interfaces be fed in a plain loop.
//
// Every decoder hands out frames in WAV channel order (front left, front
// right, centre, LFE, back left, back right, ...), so that the converter's
// one channel rule (converter.h) serves every format.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "converter.h"
#include "device_error.h"

namespace speakerd {

enum class Codec { kFlac, kOggOpus, kOggVorbis, kMp3, kWebmOpus };

// "flac", "opus", "vorbis", "mp3", "webm"; false for anything else.
bool ParseCodec(const std::string& name, Codec* codec);
const char* CodecName(Codec codec);

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Up to `max` bytes of the body; blocks until some arrive. 0: the body has
  // ended, or decoding must stop (the stream was aborted).
  virtual size_t Read(uint8_t* dst, size_t max) = 0;
};

class PcmSink {
 public:
  virtual ~PcmSink() = default;
  // Interleaved frames in `format` (an input format of kInputFormats);
  // blocks until they are all queued. False: decoding must stop (aborted,
  // the length limit reached, or a format change that cannot be played).
  virtual bool Emit(const AudioFormat& format, const uint8_t* frames, size_t count) = 0;
};

// How a decode ended. An error is set only when the body could not be
// decoded at all from some point on (not the codec, or a broken header);
// frames lost to corruption inside a stream are counted instead.
struct DecodeReport {
  uint64_t decode_errors = 0;
  bool truncated = false;  // the body ended inside a frame or before its declared end
  DeviceError error;       // E_DECODE_FAILED ...
};

class AudioDecoder {
 public:
  virtual ~AudioDecoder() = default;
  // Decodes the whole body. Returns when the source ends or the sink refuses.
  virtual DecodeReport Run(ByteSource* source, PcmSink* sink) = 0;
};

// `device_format` is the format the stream's frames end in: a decoder whose
// library writes it as exactly as it writes float (libmpg123's S16 synth)
// produces it directly, which spares the converter a pass.
std::unique_ptr<AudioDecoder> CreateDecoder(Codec codec, snd_pcm_format_t device_format = SND_PCM_FORMAT_UNKNOWN);

// The codec-specific factories (one file each).
std::unique_ptr<AudioDecoder> CreateFlacDecoder();
std::unique_ptr<AudioDecoder> CreateOggOpusDecoder();
std::unique_ptr<AudioDecoder> CreateOggVorbisDecoder(bool s16_out);
std::unique_ptr<AudioDecoder> CreateMp3Decoder(bool s16_out);
std::unique_ptr<AudioDecoder> CreateWebmOpusDecoder();

// Sets report->error to E_DECODE_FAILED with a message naming the codec.
void FailDecode(DecodeReport* report, Codec codec, const std::string& what);

}  // namespace speakerd
