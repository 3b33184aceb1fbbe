#include "converter.h"

#include <speex/speex_resampler.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "sample_codec.h"

namespace speakerd {
namespace {

// Float input is clipped to full scale before anything else, so that a
// runaway float source cannot ring through the resampler; NaN is silence.
inline float ClipToUnit(float v) {
  if (v > 1.0f) return 1.0f;
  if (v >= -1.0f) return v;
  if (v < -1.0f) return -1.0f;
  return 0.0f;
}

void DecodeSamples(snd_pcm_format_t format, const uint8_t* src, size_t samples, float* dst) {
  sample_codec::VisitDecoder(format, [&](auto codec) {
    using Codec = decltype(codec);
    for (size_t i = 0; i < samples; ++i) {
      const float v = Codec::Decode(src + i * Codec::kBytes);
      if constexpr (Codec::kFloat) {
        dst[i] = ClipToUnit(v);
      } else {
        dst[i] = v;
      }
    }
  });
}

bool IsIntegerFormat(snd_pcm_format_t format) {
  bool integer = false;
  sample_codec::VisitDecoder(format, [&](auto codec) { integer = !decltype(codec)::kFloat; });
  return integer;
}

// Input frames decoded at a time: enough to amortise the per-call overhead,
// few enough that the scratch buffers stay in cache, and scaled down when
// upsampling so that one block's output stays about this size too.
constexpr size_t kBlockFrames = 4096;

std::string FormatName(snd_pcm_format_t format) {
  const char* name = snd_pcm_format_name(format);
  return name ? name : "UNKNOWN";
}

bool CheckFormat(const AudioFormat& f, const char* side, bool input, DeviceError* error) {
  const bool supported = input ? Converter::SupportsInput(f.format) : Converter::SupportsOutput(f.format);
  if (!supported) {
    error->code = "E_INVALID_FORMAT";
    error->message = std::string("unsupported ") + side + " sample format " + FormatName(f.format);
    return false;
  }
  const unsigned max_channels = input ? kMaxInputChannels : kMaxDeviceChannels;
  if (f.channels < 1 || f.channels > max_channels) {
    error->code = "E_INVALID_ARG";
    error->message = std::string(side) + " channels must be from 1 to " + std::to_string(max_channels) + "; got " +
                     std::to_string(f.channels);
    return false;
  }
  if (f.rate < kMinInputRate || f.rate > kMaxRate) {
    error->code = "E_INVALID_ARG";
    error->message = std::string(side) + " rate must be from " + std::to_string(kMinInputRate) + " to " +
                     std::to_string(kMaxRate) + "; got " + std::to_string(f.rate);
    return false;
  }
  return true;
}

}  // namespace

ChannelMap::ChannelMap(unsigned in_channels, unsigned out_channels)
    : in_channels_(in_channels),
      out_channels_(out_channels),
      identity_(in_channels == out_channels),
      averages_(out_channels == 1 && in_channels > 1),
      sources_(out_channels, kSilent) {
  for (unsigned out = 0; out < out_channels; ++out) {
    if (in_channels == 1) {
      sources_[out] = 0;
    } else if (out < in_channels) {
      sources_[out] = static_cast<int>(out);
    }
  }
}

void ChannelMap::Apply(const float* in, size_t frames, float* out) const {
  if (averages_) {
    const float n = static_cast<float>(in_channels_);
    for (size_t f = 0; f < frames; ++f) {
      const float* frame = in + f * in_channels_;
      float sum = 0.0f;
      for (unsigned c = 0; c < in_channels_; ++c) sum += frame[c];
      out[f] = sum / n;
    }
    return;
  }
  for (size_t f = 0; f < frames; ++f) {
    const float* frame = in + f * in_channels_;
    float* mapped = out + f * out_channels_;
    for (unsigned c = 0; c < out_channels_; ++c) mapped[c] = sources_[c] == kSilent ? 0.0f : frame[sources_[c]];
  }
}

bool Converter::SupportsInput(snd_pcm_format_t format) {
  return Contains(kInputFormats, format) && sample_codec::SampleBytes(format) != 0;
}

bool Converter::SupportsOutput(snd_pcm_format_t format) { return sample_codec::CanEncode(format); }

std::unique_ptr<Converter> Converter::Create(const AudioFormat& from, const AudioFormat& to, int quality,
                                             DeviceError* error, bool steerable) {
  if (!CheckFormat(from, "input", true, error) || !CheckFormat(to, "output", false, error)) return nullptr;
  if (quality < SPEEX_RESAMPLER_QUALITY_MIN || quality > SPEEX_RESAMPLER_QUALITY_MAX) {
    error->code = "E_INVALID_ARG";
    error->message = "resampler quality must be from " + std::to_string(SPEEX_RESAMPLER_QUALITY_MIN) + " to " +
                     std::to_string(SPEEX_RESAMPLER_QUALITY_MAX) + "; got " + std::to_string(quality);
    return nullptr;
  }
  std::unique_ptr<Converter> converter(new Converter(from, to, steerable));
  if (steerable && from.rate == to.rate) {
    // Only moved by a clock lock's few hundred ppm: drift_interpolator.h says why not speexdsp.
    converter->drift_ = std::make_unique<DriftInterpolator>(converter->resampler_channels_);
  } else if (from.rate != to.rate || steerable) {
    int err = RESAMPLER_ERR_SUCCESS;
    converter->resampler_ = speex_resampler_init(converter->resampler_channels_, from.rate, to.rate, quality, &err);
    if (converter->resampler_ == nullptr) {
      error->code = "E_RESAMPLER_INIT";
      error->message = "cannot create a resampler from " + std::to_string(from.rate) + " to " +
                       std::to_string(to.rate) + " Hz: " + speex_resampler_strerror(err);
      return nullptr;
    }
    // Without this the output starts with the filter's delay in silence;
    // with it, output frame k sits at input time k × in/out.
    speex_resampler_skip_zeros(converter->resampler_);
  }
  return converter;
}

Converter::Converter(const AudioFormat& from, const AudioFormat& to, bool steerable)
    : from_(from),
      to_(to),
      map_(from.channels, to.channels),
      in_frame_bytes_(sample_codec::SampleBytes(from.format) * from.channels),
      out_frame_bytes_(sample_codec::SampleBytes(to.format) * to.channels),
      map_before_resampling_(to.channels < from.channels),
      resampler_channels_(std::min(from.channels, to.channels)),
      steerable_(steerable),
      ratio_(static_cast<double>(from.rate) / to.rate) {
  const bool same_rate = from.rate == to.rate && !steerable;
  const bool same_channels = from.channels == to.channels;
  if (same_rate && same_channels && from.format == to.format) {
    path_ = Path::kCopy;
  } else if (same_rate && same_channels && from.format == SND_PCM_FORMAT_S16_BE && to.format == SND_PCM_FORMAT_S16_LE) {
    path_ = Path::kSwapS16;
  } else if (same_rate && from.format == to.format && IsIntegerFormat(from.format) && !map_.averages()) {
    path_ = Path::kMoveSamples;
  }
  const uint64_t scaled = static_cast<uint64_t>(kBlockFrames) * from.rate / to.rate;
  block_frames_ = static_cast<size_t>(std::clamp<uint64_t>(scaled, 1, kBlockFrames));
  resampled_capacity_ = static_cast<size_t>(OutputFramesFor(block_frames_)) + 16;
  if (path_ == Path::kFloat) {
    decoded_.resize(block_frames_ * from.channels);
    if (!map_.identity()) mapped_.resize(std::max(block_frames_, resampled_capacity_) * to.channels);
    if (!same_rate) resampled_.resize(resampled_capacity_ * resampler_channels_);
  }
}

Converter::~Converter() {
  if (resampler_ != nullptr) speex_resampler_destroy(resampler_);
}

size_t Converter::memory_bytes() const {
  size_t floats = decoded_.capacity() + mapped_.capacity() + resampled_.capacity();
  if (drift_) floats += drift_->memory_bytes() / sizeof(float);
  if (resampler_ != nullptr) {
    // Its history per channel plus its interpolation table, each about a
    // filter length times a small factor (16 is its oversampling from
    // quality 5 up). An estimate, only to give V8's GC the right pressure.
    const size_t filter_length = 2 * static_cast<size_t>(speex_resampler_get_input_latency(resampler_));
    floats += filter_length * (resampler_channels_ + 16);
  }
  return sizeof(*this) + floats * sizeof(float);
}

uint64_t Converter::OutputFramesFor(uint64_t input_frames) const {
  // Rounded to nearest, halves up; 128 bits because frames × rate may pass 2^64.
  const unsigned __int128 scaled = static_cast<unsigned __int128>(input_frames) * to_.rate * 2 + from_.rate;
  return static_cast<uint64_t>(scaled / (2 * static_cast<unsigned __int128>(from_.rate)));
}

size_t Converter::Convert(const uint8_t* in, size_t frames, FrameSink* out) {
  if (path_ != Path::kFloat) {
    const size_t taken = std::min(frames, out->Room());
    for (size_t done = 0; done < taken;) {
      size_t granted = 0;
      uint8_t* dst = out->Reserve(taken - done, &granted);
      MapFrames(in + done * in_frame_bytes_, granted, dst);
      out->Commit(granted);
      done += granted;
    }
    return taken;
  }
  size_t done = 0;
  while (done < frames && out->Room() > 0) {
    const size_t n = std::min(block_frames_, frames - done);
    ConvertBlock(in + done * in_frame_bytes_, n, out);
    done += n;
  }
  frames_in_ += done;
  return done;
}

void Converter::Convert(const uint8_t* in, size_t frames, std::vector<uint8_t>* out) {
  out->reserve(out->size() + (OutputFramesFor(frames) + 1) * out_frame_bytes_);
  VectorFrameSink sink(out, out_frame_bytes_);
  Convert(in, frames, &sink);
}

void Converter::MapFrames(const uint8_t* in, size_t frames, uint8_t* out) const {
  switch (path_) {
    case Path::kCopy:
      std::memcpy(out, in, frames * in_frame_bytes_);
      return;
    case Path::kSwapS16:
      for (size_t i = 0; i < frames * in_frame_bytes_; i += 2) {
        out[i] = in[i + 1];
        out[i + 1] = in[i];
      }
      return;
    case Path::kMoveSamples:
      MoveSamples(in, frames, out);
      return;
    case Path::kFloat:
      return;  // not one to one: Convert never calls this for it
  }
}

void Converter::MoveSamples(const uint8_t* in, size_t frames, uint8_t* out) const {
  const size_t sample_bytes = sample_codec::SampleBytes(from_.format);
  for (size_t f = 0; f < frames; ++f) {
    const uint8_t* frame = in + f * in_frame_bytes_;
    uint8_t* moved = out + f * out_frame_bytes_;
    for (unsigned c = 0; c < to_.channels; ++c) {
      const int source = map_.source(c);
      if (source == ChannelMap::kSilent) {
        // Every integer format we output is signed: silence is zero bytes.
        std::memset(moved + c * sample_bytes, 0, sample_bytes);
      } else {
        std::memcpy(moved + c * sample_bytes, frame + source * sample_bytes, sample_bytes);
      }
    }
  }
}

void Converter::ConvertBlock(const uint8_t* in, size_t frames, FrameSink* out) {
  DecodeSamples(from_.format, in, frames * from_.channels, decoded_.data());
  const float* signal = decoded_.data();
  if (map_before_resampling_) {
    map_.Apply(signal, frames, mapped_.data());
    signal = mapped_.data();
  }
  if (resampler_ == nullptr && !drift_) {
    Emit(signal, frames, out);
  } else {
    Resample(signal, frames, UINT64_MAX, out);
  }
}

uint64_t Converter::Resample(const float* in, size_t frames, uint64_t max_out, FrameSink* out) {
  uint64_t emitted = 0;
  while (frames > 0 && emitted < max_out) {
    size_t in_len = frames;
    size_t out_len = static_cast<size_t>(std::min<uint64_t>(resampled_capacity_, max_out - emitted));
    if (drift_) {
      drift_->Process(in, &in_len, resampled_.data(), &out_len);
    } else {
      spx_uint32_t speex_in = static_cast<spx_uint32_t>(in_len);
      spx_uint32_t speex_out = static_cast<spx_uint32_t>(out_len);
      speex_resampler_process_interleaved_float(resampler_, in, &speex_in, resampled_.data(), &speex_out);
      in_len = speex_in;
      out_len = speex_out;
    }
    if (in_len == 0 && out_len == 0) break;  // cannot happen with room for output; never spin
    in += static_cast<size_t>(in_len) * resampler_channels_;
    frames -= in_len;
    Emit(resampled_.data(), out_len, out);
    emitted += out_len;
    source_position_ += out_len * ratio_;
  }
  frames_out_ += emitted;
  return emitted;
}

void Converter::Emit(const float* signal, size_t frames, FrameSink* out) {
  if (!map_before_resampling_ && !map_.identity()) {
    map_.Apply(signal, frames, mapped_.data());
    signal = mapped_.data();
  }
  // The sink may grant less than asked (the ring wraps): encode piece by piece.
  while (frames > 0) {
    size_t granted = 0;
    uint8_t* dst = out->Reserve(frames, &granted);
    sample_codec::EncodeSamples(to_.format, signal, granted * to_.channels, dst);
    out->Commit(granted);
    signal += granted * to_.channels;
    frames -= granted;
  }
}

void Converter::Flush(FrameSink* out) {
  if (resampler_ != nullptr || drift_) {
    // The resampler still holds the last input frames in its filter: push
    // silence through until the stream has its exact length. Output can only
    // lag the target (by about the filter's output latency), never lead it.
    // A block of silence may yield nothing while the filter fills, so the
    // loop is bounded by how much silence can possibly be needed instead.
    // Steered, the output ends where the source does, at the ratio of the moment.
    const uint64_t target = steerable_ ? frames_out_ + static_cast<uint64_t>(std::max(0.0, (frames_in_ - source_position_) / ratio_) + 0.5)
                                       : OutputFramesFor(frames_in_);
    const uint64_t owed_input = (target - std::min(frames_out_, target)) * from_.rate / to_.rate + 1;
    const uint64_t latency = drift_ ? DriftInterpolator::kLatencyFrames : speex_resampler_get_input_latency(resampler_);
    const uint64_t silence_limit = owed_input + 2 * latency + block_frames_;
    std::fill(decoded_.begin(), decoded_.end(), 0.0f);
    for (uint64_t fed = 0; frames_out_ < target && fed < silence_limit; fed += block_frames_) {
      Resample(decoded_.data(), block_frames_, target - frames_out_, out);
    }
  }
  Restart();
}

void Converter::Flush(std::vector<uint8_t>* out) {
  VectorFrameSink sink(out, out_frame_bytes_);
  Flush(&sink);
}

void Converter::SteerRatio(double source_per_output) {
  if (!CanSteerTo(source_per_output)) return;
  if (drift_) {
    ratio_ = drift_->SetRatio(source_per_output);
    return;
  }
  // num / den is the resampler's ratio. speexdsp rescales its phase to a new
  // den as phase × new den / old den in 32 bits, and on overflow returns
  // without rebuilding its filter, leaving a ratio it does not follow (it
  // then made 40 frames per input frame): den stays below 2^16, so that any
  // phase (< old den) times it fits. A step of 17 ppm; the lock's loop
  // dithers between steps.
  constexpr uint32_t kDen = 60000;
  const uint32_t num = static_cast<uint32_t>(std::llround(source_per_output * kDen));
  if (num == ratio_num_) return;
  // Rebuilds the filter table (tens of µs), so only when the ratio moves.
  speex_resampler_set_rate_frac(resampler_, num, kDen, from_.rate, to_.rate);
  ratio_num_ = num;
  // What the resampler follows, reduced or not: the source position is counted in it.
  spx_uint32_t got_num = 0, got_den = 1;
  speex_resampler_get_ratio(resampler_, &got_num, &got_den);
  ratio_ = static_cast<double>(got_num) / got_den;
}

void Converter::Restart() {
  frames_in_ = 0;
  frames_out_ = 0;
  source_position_ = 0;
  if (drift_) drift_->Reset();
  if (resampler_ != nullptr) {
    speex_resampler_reset_mem(resampler_);
    speex_resampler_skip_zeros(resampler_);
  }
}

}  // namespace speakerd
