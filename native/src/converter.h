// Converts one stream's frames, as a client sent them, into the device's
// format: sample format, channel map and sample rate (speexdsp's resampler;
// a timed stream at the device's rate through drift_interpolator.h).
// Runs synchronously on the caller's thread; one Converter per stream, since
// the resampler carries state from chunk to chunk.
//
// Pipeline: decode to float32 interleaved → map channels → resample → encode
// with clipping (sample_codec.h). Mapping runs before resampling when it
// removes channels and after when it adds them, so the resampler filters as
// few channels as possible; both steps are linear, so the order does not
// change the result beyond float rounding.
//
// Output depends only on the input bytes, never on how they were split into
// chunks. Exact fast paths: an identical format is copied; S16_BE → S16_LE is
// a byte swap; the same integer format with a channel map that only moves
// samples moves their bytes (S32 would otherwise lose its low 8 bits in
// float). Without resampling, conversion into a format at least as wide as
// the input is exact by the codec rules.
#pragma once

#include <alsa/asoundlib.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "audio_limits.h"
#include "device_error.h"
#include "drift_interpolator.h"
#include "frame_sink.h"

struct SpeexResamplerState_;

namespace speakerd {

struct AudioFormat {
  snd_pcm_format_t format;
  unsigned rate;
  unsigned channels;
};

// Which input channel feeds each output channel:
//   - the same count: channel i → channel i;
//   - mono in: every output channel gets the mono signal;
//   - mono out (from N > 1): the average of all input channels, computed in
//     float as their sum divided by N, then rounded half to even on encode;
//   - otherwise (stereo or more into a different count): output channel i
//     gets input channel i, for i < min(in, out). Extra output channels are
//     silent; extra input channels are dropped, which keeps front left and
//     front right (WAV's first two channels) when folding 5.1 into stereo.
class ChannelMap {
 public:
  static constexpr int kSilent = -1;

  ChannelMap(unsigned in_channels, unsigned out_channels);

  bool identity() const { return identity_; }
  bool averages() const { return averages_; }
  // Input channel feeding output channel `out`, or kSilent. Not for averages().
  int source(unsigned out) const { return sources_[out]; }

  // Maps `frames` float frames from `in` into `out`.
  void Apply(const float* in, size_t frames, float* out) const;

 private:
  unsigned in_channels_;
  unsigned out_channels_;
  bool identity_;
  bool averages_;
  std::vector<int> sources_;
};

class Converter {
 public:
  static constexpr int kDefaultQuality = 5;  // speexdsp's "desktop" quality

  // audio_limits.h: kInputFormats, and any format the codec can encode
  // (every device format).
  static bool SupportsInput(snd_pcm_format_t format);
  static bool SupportsOutput(snd_pcm_format_t format);

  // Null, with *error set, for an unsupported format (E_INVALID_FORMAT), a
  // rate, channel count or quality out of range (E_INVALID_ARG), or a
  // resampler that cannot be created (E_RESAMPLER_INIT).
  // `steerable`: always resampled, even at one rate, so that SteerRatio can
  // move its ratio (a timed stream's clock lock); at one rate by a
  // DriftInterpolator, which ignores `quality`.
  static std::unique_ptr<Converter> Create(const AudioFormat& from, const AudioFormat& to, int quality,
                                           DeviceError* error, bool steerable = false);

  ~Converter();
  Converter(const Converter&) = delete;
  Converter& operator=(const Converter&) = delete;

  // A steerable converter: source frames per output frame from now on, if
  // CanSteerTo it (else nothing changes). Frame-exact lengths then give way
  // to the ratio: Flush ends the output where the source ends.
  void SteerRatio(double source_per_output);
  bool steerable() const { return steerable_; }
  // Steerable, and the ratio within a tenth of the nominal one.
  bool CanSteerTo(double source_per_output) const {
    return steerable_ && std::fabs(source_per_output / nominal_ratio() - 1) <= 0.1;
  }
  double nominal_ratio() const { return static_cast<double>(from_.rate) / to_.rate; }
  // Output frames since the stream started, and the source position (input
  // frames, fractional) the next output frame is taken at.
  uint64_t frames_out() const { return frames_out_; }
  double source_position() const { return source_position_; }

  size_t input_frame_bytes() const { return in_frame_bytes_; }
  size_t output_frame_bytes() const { return out_frame_bytes_; }
  // Native memory held between calls: scratch buffers and the resampler's
  // history, estimated from its filter length (its tables are not exposed).
  size_t memory_bytes() const;

  // Converts input frames at `in` straight into `out`, as many as it has
  // room for, and returns how many input frames it took. Paths that map
  // frames one to one take at most out->Room(); the float path converts
  // block by block while out->Room() > 0, so its last block may overrun the
  // room by at most one block's output, which the sink holds aside. A
  // resampler holds back its filter's latency until Flush.
  size_t Convert(const uint8_t* in, size_t frames, FrameSink* out);
  // Converts all `frames` input frames, appending to *out.
  void Convert(const uint8_t* in, size_t frames, std::vector<uint8_t>* out);

  // Ends the stream: writes the resampler's tail so that the stream's output
  // totals round(input frames × out rate / in rate) frames, then starts over
  // for a new stream. The tail is at most about the filter's latency.
  void Flush(FrameSink* out);
  void Flush(std::vector<uint8_t>* out);

 private:
  enum class Path {
    kCopy,         // same format, rate and channels
    kSwapS16,      // S16_BE → S16_LE, same rate and channels
    kMoveSamples,  // same integer format and rate, a map that only moves samples
    kFloat,        // decode, map, resample, encode
  };

  Converter(const AudioFormat& from, const AudioFormat& to, bool steerable);

  // The one-to-one paths (copy, swap, move) for `frames` frames.
  void MapFrames(const uint8_t* in, size_t frames, uint8_t* out) const;
  void MoveSamples(const uint8_t* in, size_t frames, uint8_t* out) const;
  void ConvertBlock(const uint8_t* in, size_t frames, FrameSink* out);
  // Feeds `frames` float frames, at the resampler's channel count, through the
  // resampler, emitting at most `max_out` frames. Returns the frames emitted.
  uint64_t Resample(const float* in, size_t frames, uint64_t max_out, FrameSink* out);
  // Maps (when mapping follows resampling) and encodes `frames` float frames.
  void Emit(const float* signal, size_t frames, FrameSink* out);
  uint64_t OutputFramesFor(uint64_t input_frames) const;
  void Restart();

  AudioFormat from_;
  AudioFormat to_;
  ChannelMap map_;
  Path path_ = Path::kFloat;
  size_t in_frame_bytes_;
  size_t out_frame_bytes_;
  bool map_before_resampling_;
  unsigned resampler_channels_;
  size_t block_frames_;           // input frames decoded at a time
  size_t resampled_capacity_;     // output frames per resampler call
  SpeexResamplerState_* resampler_ = nullptr;
  std::unique_ptr<DriftInterpolator> drift_;  // instead of the resampler: a steerable stream at one rate
  uint64_t frames_in_ = 0;        // since the stream started
  uint64_t frames_out_ = 0;
  bool steerable_ = false;
  double ratio_;                  // source frames per output frame, exactly the resampler's num / den
  uint32_t ratio_num_ = 0;        // what SteerRatio last gave the resampler (0: the nominal ratio)
  double source_position_ = 0;
  std::vector<float> decoded_;
  std::vector<float> mapped_;
  std::vector<float> resampled_;
};

}  // namespace speakerd
