#include "opus_packet_decoder.h"

#include <opusfile.h>

#include <algorithm>

#include "ogg_support.h"

namespace speakerd {
namespace {
constexpr unsigned kOpusRate = 48000;
constexpr int kMaxFrames = 5760;  // 120 ms, the longest Opus packet
}  // namespace

OpusPacketDecoder::~OpusPacketDecoder() {
  if (decoder_ != nullptr) opus_multistream_decoder_destroy(decoder_);
}

bool OpusPacketDecoder::Open(const uint8_t* head, size_t bytes, std::string* error) {
  OpusHead parsed;
  // An empty element's data() may be null, which opus_head_parse never takes.
  if (bytes == 0 || opus_head_parse(&parsed, head, bytes) != 0) {
    *error = "not an OpusHead";
    return false;
  }
  int status = OPUS_OK;
  OpusMSDecoder* decoder = opus_multistream_decoder_create(kOpusRate, parsed.channel_count, parsed.stream_count,
                                                           parsed.coupled_count, parsed.mapping, &status);
  if (decoder == nullptr) {
    *error = std::string("libopus refused the OpusHead: ") + opus_strerror(status);
    return false;
  }
  if (decoder_ != nullptr) opus_multistream_decoder_destroy(decoder_);
  decoder_ = decoder;
  opus_multistream_decoder_ctl(decoder_, OPUS_SET_GAIN(parsed.output_gain));
  channels_ = static_cast<unsigned>(parsed.channel_count);
  // Families 0 and 1 are in Vorbis order; others have no order to keep.
  vorbis_order_ = parsed.mapping_family <= 1;
  skip_ = parsed.pre_skip;
  held_ = 0;
  decoded_ = 0;
  pcm_.resize(static_cast<size_t>(kMaxFrames) * channels_);
  return true;
}

OpusPacketDecoder::Result OpusPacketDecoder::Decode(const uint8_t* packet, size_t bytes, PcmSink* sink) {
  if (!Flush(sink)) return Result::kRefused;
  const int frames =
      opus_multistream_decode_float(decoder_, packet, static_cast<opus_int32>(bytes), pcm_.data(), kMaxFrames, 0);
  if (frames < 0) return Result::kCorrupt;
  held_ = static_cast<uint64_t>(frames);
  decoded_ += held_;
  return Result::kDecoded;
}

void OpusPacketDecoder::TrimHeld(uint64_t frames) { held_ -= std::min(held_, frames); }

bool OpusPacketDecoder::Flush(PcmSink* sink) {
  const uint64_t skip = std::min(skip_, held_);
  skip_ -= skip;
  const size_t count = static_cast<size_t>(held_ - skip);
  const float* from = pcm_.data() + skip * channels_;
  held_ = 0;
  if (count == 0 || refused_) return !refused_;
  wav_.resize(count * channels_);
  for (size_t i = 0; i < count; i++) {
    for (unsigned c = 0; c < channels_; c++) {
      wav_[i * channels_ + c] = from[i * channels_ + (vorbis_order_ ? VorbisToWavChannel(channels_, c) : c)];
    }
  }
  const AudioFormat format{SND_PCM_FORMAT_FLOAT_LE, kOpusRate, channels_};
  if (!sink->Emit(format, reinterpret_cast<const uint8_t*>(wav_.data()), count)) refused_ = true;
  return !refused_;
}

}  // namespace speakerd
