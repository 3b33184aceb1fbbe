// Drives native/src/converter.cc without Node, for scripts/check-native.sh to
// run under AddressSanitizer and UndefinedBehaviorSanitizer: every input
// format into every device format, several channel maps and rate pairs
// (including the extremes), random bytes (so float input holds NaN and
// infinities) cut into random chunks. Checks that chunking never changes the
// output, that every stream has its exact length, that a stream's input
// (stream_input.cc: conversion straight into a small ring that a consumer
// drains at random, overrunning it and holding the excess aside) yields the
// very same bytes, and that bad arguments are refused with the right code.
//
// Usage: converter_harness [seed]. Prints "converter_harness: FAIL ..." for
// each failed expectation and ends with
//   converter_harness: cases=<n> checks=<n> seed=<n>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "converter.h"
#include "stream_input.h"

namespace {

using speakerd::AudioFormat;
using speakerd::Converter;
using speakerd::DeviceError;
using speakerd::StreamInput;
using speakerd::StreamRing;

int failures = 0;
int checks = 0;

void Expect(bool ok, const std::string& what) {
  ++checks;
  if (!ok) {
    ++failures;
    std::printf("converter_harness: FAIL %s\n", what.c_str());
  }
}

std::string Describe(const AudioFormat& from, const AudioFormat& to) {
  return std::string(snd_pcm_format_name(from.format)) + "/" + std::to_string(from.rate) + "/" +
         std::to_string(from.channels) + " -> " + snd_pcm_format_name(to.format) + "/" + std::to_string(to.rate) +
         "/" + std::to_string(to.channels);
}

uint64_t ExpectedFrames(uint64_t frames, unsigned in_rate, unsigned out_rate) {
  return (frames * out_rate * 2 + in_rate) / (2 * static_cast<uint64_t>(in_rate));
}

// Reads everything readable from the ring, or a random part of it, into *out.
void ConsumeSome(StreamRing* ring, std::vector<uint8_t>* out, std::mt19937* random, bool all) {
  const size_t readable = ring->Readable();
  const size_t n = all ? readable : std::uniform_int_distribution<size_t>(0, readable)(*random);
  const StreamRing::Regions regions = ring->Peek(n);
  out->insert(out->end(), regions.first, regions.first + regions.first_frames * ring->frame_bytes());
  out->insert(out->end(), regions.second, regions.second + regions.second_frames * ring->frame_bytes());
  ring->Consume(regions.frames());
}

// The same input through a StreamInput into a ring of a random small size,
// written in random chunks and read back as the ring allows.
std::vector<uint8_t> ThroughStreamInput(const AudioFormat& from, const AudioFormat& to, size_t output_frame_bytes,
                                        const std::vector<uint8_t>& input, size_t frames, std::mt19937* random,
                                        const std::string& name) {
  StreamRing ring(std::uniform_int_distribution<size_t>(16, 4096)(*random), output_frame_bytes);
  StreamInput stream(&ring, to);
  DeviceError error;
  std::vector<uint8_t> got;
  if (!stream.SetFormat(from, Converter::kDefaultQuality, &error)) {
    Expect(false, name + ": stream input refused the format: " + error.code);
    return got;
  }
  Expect(stream.converts() == !(from.format == to.format && from.rate == to.rate && from.channels == to.channels),
         name + ": converts only when the formats differ");
  std::uniform_int_distribution<size_t> chunk_size(0, 3000);
  for (size_t at = 0; at < frames;) {
    const size_t n = std::min(frames - at, chunk_size(*random));
    const size_t taken = stream.Write(input.data() + at * stream.input_frame_bytes(), n);
    Expect(taken <= n, name + ": took more frames than offered");
    at += taken;
    ConsumeSome(&ring, &got, random, taken == 0);
  }
  while (!stream.Finish()) ConsumeSome(&ring, &got, random, true);
  ConsumeSome(&ring, &got, random, true);
  return got;
}

void RunCase(const AudioFormat& from, const AudioFormat& to, size_t frames, std::mt19937* random) {
  const std::string name = Describe(from, to);
  DeviceError error;
  auto whole = Converter::Create(from, to, Converter::kDefaultQuality, &error);
  auto chunked = Converter::Create(from, to, Converter::kDefaultQuality, &error);
  if (!whole || !chunked) {
    Expect(false, name + ": create failed: " + error.code + " " + error.message);
    return;
  }
  std::vector<uint8_t> input(frames * whole->input_frame_bytes());
  for (uint8_t& byte : input) byte = static_cast<uint8_t>((*random)());

  std::vector<uint8_t> expected;
  whole->Convert(input.data(), frames, &expected);
  whole->Flush(&expected);

  std::vector<uint8_t> got;
  std::uniform_int_distribution<size_t> chunk_size(0, 3000);
  for (size_t at = 0; at < frames;) {
    const size_t n = std::min(frames - at, chunk_size(*random));
    chunked->Convert(input.data() + at * chunked->input_frame_bytes(), n, &got);
    at += n;
  }
  chunked->Flush(&got);

  Expect(got == expected, name + ": chunked output differs from whole output");
  Expect(ThroughStreamInput(from, to, whole->output_frame_bytes(), input, frames, random, name) == expected,
         name + ": output through a stream's input differs from whole output");
  const uint64_t want = ExpectedFrames(frames, from.rate, to.rate);
  Expect(expected.size() == want * whole->output_frame_bytes(),
         name + ": " + std::to_string(expected.size() / whole->output_frame_bytes()) + " frames, want " +
             std::to_string(want));
}

// A timed stream's converter (steerable: at one rate the drift
// interpolator, else speexdsp), its ratio moved as a clock lock moves it, at
// random points, up to the 10 % it accepts: the output must stay whole
// frames, and a ratio held from the start must give round(frames / ratio).
void RunSteeredCase(const AudioFormat& from, const AudioFormat& to, size_t frames, std::mt19937* random) {
  const std::string name = Describe(from, to) + " steered";
  DeviceError error;
  auto held = Converter::Create(from, to, Converter::kDefaultQuality, &error, true);
  auto moved = Converter::Create(from, to, Converter::kDefaultQuality, &error, true);
  if (!held || !moved) {
    Expect(false, name + ": create failed: " + error.code + " " + error.message);
    return;
  }
  const double nominal = static_cast<double>(from.rate) / to.rate;
  std::uniform_real_distribution<double> offset(-0.1, 0.1);
  std::uniform_int_distribution<size_t> chunk_size(0, 3000);
  std::vector<uint8_t> input(frames * held->input_frame_bytes());
  for (uint8_t& byte : input) byte = static_cast<uint8_t>((*random)());

  const double ratio = nominal * (1 + offset(*random) / 100);  // within 1000 ppm, as a lock asks
  held->SteerRatio(ratio);
  std::vector<uint8_t> out;
  for (size_t at = 0; at < frames;) {
    const size_t n = std::min(frames - at, chunk_size(*random));
    held->Convert(input.data() + at * held->input_frame_bytes(), n, &out);
    at += n;
  }
  held->Flush(&out);
  const size_t frame_bytes = held->output_frame_bytes();
  const double want = static_cast<double>(frames) / ratio;
  const double got = static_cast<double>(out.size()) / frame_bytes;
  // speexdsp follows its ratio in steps of 1/60000 (converter.cc), which
  // moves the length by up to frames × (0.5/60000) / ratio²; a frame more besides.
  const double slack = 1.5 + (from.rate == to.rate ? 0 : frames * (0.5 / 60000) / (ratio * ratio));
  Expect(out.size() % frame_bytes == 0 && std::abs(got - want) <= slack,
         name + ": " + std::to_string(got) + " frames at ratio " + std::to_string(ratio) + ", want about " + std::to_string(want));

  std::vector<uint8_t> steered;
  for (size_t at = 0; at < frames;) {
    moved->SteerRatio(nominal * (1 + offset(*random)));
    const size_t n = std::min(frames - at, chunk_size(*random));
    moved->Convert(input.data() + at * moved->input_frame_bytes(), n, &steered);
    at += n;
  }
  moved->Flush(&steered);
  Expect(steered.size() % frame_bytes == 0, name + ": moved at random, " + std::to_string(steered.size()) + " bytes are not whole frames");
}

void ExpectRefused(const AudioFormat& from, const AudioFormat& to, int quality, const std::string& code) {
  DeviceError error;
  auto converter = Converter::Create(from, to, quality, &error);
  Expect(!converter && error.code == code,
         Describe(from, to) + " quality " + std::to_string(quality) + ": want " + code + ", got " +
             (converter ? "a converter" : error.code));
}

}  // namespace

int main(int argc, char** argv) {
  const unsigned seed = argc > 1 ? static_cast<unsigned>(std::strtoul(argv[1], nullptr, 10)) : 1;
  std::mt19937 random(seed);
  const snd_pcm_format_t inputs[] = {SND_PCM_FORMAT_U8,      SND_PCM_FORMAT_S16_LE,  SND_PCM_FORMAT_S16_BE,
                                     SND_PCM_FORMAT_S24_3LE, SND_PCM_FORMAT_S24_3BE, SND_PCM_FORMAT_S32_LE,
                                     SND_PCM_FORMAT_FLOAT_LE, SND_PCM_FORMAT_FLOAT64_LE};
  const snd_pcm_format_t outputs[] = {SND_PCM_FORMAT_S16_LE, SND_PCM_FORMAT_S24_LE, SND_PCM_FORMAT_S24_3LE,
                                      SND_PCM_FORMAT_S32_LE, SND_PCM_FORMAT_FLOAT_LE};
  const unsigned channel_counts[] = {1, 2, 6};
  const unsigned rate_pairs[][2] = {{48000, 48000}, {44100, 48000}, {16000, 48000}, {48000, 22050}};
  int cases = 0;
  for (snd_pcm_format_t in : inputs) {
    for (snd_pcm_format_t out : outputs) {
      for (unsigned in_channels : channel_counts) {
        for (unsigned out_channels : channel_counts) {
          for (const auto& rates : rate_pairs) {
            RunCase({in, rates[0], in_channels}, {out, rates[1], out_channels}, 2000, &random);
            ++cases;
          }
        }
      }
    }
  }
  // The limits: the widest rate ratios and channel counts.
  RunCase({SND_PCM_FORMAT_S16_LE, 1000, 8}, {SND_PCM_FORMAT_S16_LE, 384000, 32}, 50, &random);
  RunCase({SND_PCM_FORMAT_FLOAT_LE, 384000, 8}, {SND_PCM_FORMAT_S32_LE, 1000, 2}, 20000, &random);
  RunCase({SND_PCM_FORMAT_S16_LE, 1000, 1}, {SND_PCM_FORMAT_S16_LE, 1001, 1}, 7, &random);
  cases += 3;
  for (unsigned channels : channel_counts) {
    for (const auto& rates : rate_pairs) {
      RunSteeredCase({SND_PCM_FORMAT_S16_LE, rates[0], channels}, {SND_PCM_FORMAT_S16_LE, rates[1], 2}, 20000, &random);
      RunSteeredCase({SND_PCM_FORMAT_FLOAT_LE, rates[0], 2}, {SND_PCM_FORMAT_S32_LE, rates[1], channels}, 5000, &random);
      cases += 2;
    }
  }

  const AudioFormat good{SND_PCM_FORMAT_S16_LE, 48000, 2};
  ExpectRefused({SND_PCM_FORMAT_S24_LE, 48000, 2}, good, 5, "E_INVALID_FORMAT");
  ExpectRefused(good, {SND_PCM_FORMAT_U8, 48000, 2}, 5, "E_INVALID_FORMAT");
  ExpectRefused({SND_PCM_FORMAT_S16_LE, 999, 2}, good, 5, "E_INVALID_ARG");
  ExpectRefused(good, {SND_PCM_FORMAT_S16_LE, 384001, 2}, 5, "E_INVALID_ARG");
  ExpectRefused({SND_PCM_FORMAT_S16_LE, 48000, 0}, good, 5, "E_INVALID_ARG");
  ExpectRefused({SND_PCM_FORMAT_S16_LE, 48000, 9}, good, 5, "E_INVALID_ARG");
  ExpectRefused(good, {SND_PCM_FORMAT_S16_LE, 48000, 33}, 5, "E_INVALID_ARG");
  ExpectRefused(good, {SND_PCM_FORMAT_S16_LE, 44100, 2}, 11, "E_INVALID_ARG");

  std::printf("converter_harness: cases=%d checks=%d seed=%u\n", cases, checks, seed);
  return failures == 0 ? 0 : 1;
}
