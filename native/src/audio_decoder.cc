#include "audio_decoder.h"

namespace speakerd {

namespace {
struct CodecEntry {
  Codec codec;
  const char* name;
};
constexpr CodecEntry kCodecs[] = {
    {Codec::kFlac, "flac"}, {Codec::kOggOpus, "opus"}, {Codec::kOggVorbis, "vorbis"},
    {Codec::kMp3, "mp3"},   {Codec::kWebmOpus, "webm"},
};
}  // namespace

bool ParseCodec(const std::string& name, Codec* codec) {
  for (const CodecEntry& entry : kCodecs) {
    if (name == entry.name) {
      *codec = entry.codec;
      return true;
    }
  }
  return false;
}

const char* CodecName(Codec codec) {
  for (const CodecEntry& entry : kCodecs) {
    if (entry.codec == codec) return entry.name;
  }
  return "unknown";
}

std::unique_ptr<AudioDecoder> CreateDecoder(Codec codec, snd_pcm_format_t device_format) {
  switch (codec) {
    case Codec::kFlac:
      return CreateFlacDecoder();
    case Codec::kOggOpus:
      return CreateOggOpusDecoder();
    case Codec::kOggVorbis:
      return CreateOggVorbisDecoder(device_format == SND_PCM_FORMAT_S16_LE);
    case Codec::kMp3:
      return CreateMp3Decoder(device_format == SND_PCM_FORMAT_S16_LE);
    case Codec::kWebmOpus:
      return CreateWebmOpusDecoder();
  }
  return nullptr;
}

void FailDecode(DecodeReport* report, Codec codec, const std::string& what) {
  report->error.code = "E_DECODE_FAILED";
  report->error.message = std::string("the body is not playable ") + CodecName(codec) + ": " + what;
}

}  // namespace speakerd
