// Mutation fuzz of the compressed-audio decoders (native/src/*_decoder.cc,
// with the real, statically linked libFLAC, opusfile/libopus,
// vorbisfile/libvorbis/libogg, libmpg123 and libwebm), without Node, for
// scripts/check-native.sh to run under AddressSanitizer,
// UndefinedBehaviorSanitizer and LeakSanitizer, and under valgrind.
//
// Each file is a valid seed file (made by the reference encoder) corrupted by
// a few mutations: byte and bit changes, truncation, chunks deleted,
// duplicated, inserted or spliced from elsewhere in the file, runs of 0x00 or
// 0xFF. Most leave the headers whole so that the frame decoders see the
// damage, the others aim at the headers. Ogg pages and FLAC frame headers
// carry checksums that make the libraries drop a damaged page or frame
// header before they decode it, so about half of the Ogg files get their page
// checksums recomputed after the damage (then it reaches libopus and
// libvorbis), and about half of the FLAC files a few frame headers damaged
// with their CRC-8 recomputed (libFLAC decodes a frame's audio before it
// checks the frame's own CRC-16). The body is handed out in reads of random
// sizes (1 byte to 64 KiB), the decoder is told of an S16 or a float device
// at random (MP3 then decodes to S16 or float), and the sink now and then
// refuses frames, as a stopped stream does. A crash names the file it was in.
//
// A file's mutations depend only on the run's seed and the file's index, so
// one file can be replayed alone (--only) and written out (--dump).
//
// Usage:
//   decoder_fuzz [--limit-ms=N] [--only=INDEX] [--dump=PATH] CODEC COUNT SEED SEED_FILE...
//     CODEC is flac, opus, vorbis, mp3 or webm; file i mutates SEED_FILE[i % n].
//     A file whose decode takes longer than the limit (default 1000 ms) is
//     decoded again, and fails if it does three times running.
//     --only=INDEX decodes file INDEX alone and says how it went.
//   decoder_fuzz tone PATH RATE CHANNELS BITS SECONDS
//     writes the WAV the seed files are encoded from.
//
// Prints "decoder_fuzz: FAIL ..." for each failed expectation and ends with
//   decoder_fuzz: codec=<name> seed=<n> files=<n> max_ms=<ms> slowest=<index> ...
// Exits 1 if any expectation failed.
#include <ogg/ogg.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <dlfcn.h>
#include <sanitizer/common_interface_defs.h>
#endif

#include "audio_decoder.h"

namespace {

using speakerd::AudioFormat;
using speakerd::Codec;
using speakerd::DecodeReport;
using Bytes = std::vector<uint8_t>;
using Clock = std::chrono::steady_clock;

int failures = 0;

void Fail(const std::string& what) {
  ++failures;
  std::printf("decoder_fuzz: FAIL %s\n", what.c_str());
}

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

class Random {
 public:
  explicit Random(uint64_t seed) : engine_(seed) {}
  // In [0, n); 0 when n is 0.
  size_t Below(size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(engine_); }
  size_t Between(size_t low, size_t high) { return std::uniform_int_distribution<size_t>(low, high)(engine_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(engine_); }
  uint8_t Byte() { return static_cast<uint8_t>(engine_()); }

 private:
  std::mt19937_64 engine_;
};

Bytes ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool WriteWholeFile(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

uint32_t BigEndian(const Bytes& bytes, size_t at, size_t count) {
  uint32_t value = 0;
  for (size_t i = 0; i < count; i++) value = value << 8 | bytes[at + i];
  return value;
}

// ---- where a seed file's headers end ---------------------------------------------

// After "fLaC" and its metadata blocks; 4 when they do not parse.
size_t FlacMetadataEnd(const Bytes& bytes) {
  if (bytes.size() < 4 || std::memcmp(bytes.data(), "fLaC", 4) != 0) return 0;
  size_t at = 4;
  while (at + 4 <= bytes.size()) {
    const bool last = (bytes[at] & 0x80) != 0;
    at += 4 + BigEndian(bytes, at + 1, 3);
    if (last) return std::min(at, bytes.size());
  }
  return 4;
}

// The length of the Ogg page at `at`, when a whole one starts there; 0 otherwise.
size_t OggPageLength(const Bytes& bytes, size_t at) {
  if (at + 27 > bytes.size() || std::memcmp(bytes.data() + at, "OggS", 4) != 0) return 0;
  const size_t segments = bytes[at + 26];
  if (at + 27 + segments > bytes.size()) return 0;
  size_t body = 0;
  for (size_t i = 0; i < segments; i++) body += bytes[at + 27 + i];
  const size_t length = 27 + segments + body;
  return at + length <= bytes.size() ? length : 0;
}

// After the pages whose granule position is 0: the Opus or Vorbis headers.
size_t OggHeadersEnd(const Bytes& bytes) {
  size_t at = 0;
  while (size_t length = OggPageLength(bytes, at)) {
    uint64_t granule = 0;
    for (int i = 7; i >= 0; i--) granule = granule << 8 | bytes[at + 6 + i];
    if (granule != 0) break;
    at += length;
  }
  return at;
}

// After any ID3v2 tag and the first MPEG audio frame (LAME's Xing/Info frame,
// which states the length and the encoder delay).
size_t Mp3HeadersEnd(const Bytes& bytes) {
  size_t at = 0;
  if (bytes.size() >= 10 && std::memcmp(bytes.data(), "ID3", 3) == 0) {
    const size_t size = (bytes[6] & 0x7f) << 21 | (bytes[7] & 0x7f) << 14 | (bytes[8] & 0x7f) << 7 | (bytes[9] & 0x7f);
    at = 10 + size + ((bytes[5] & 0x10) ? 10 : 0);
  }
  if (at + 4 > bytes.size() || bytes[at] != 0xff || (bytes[at + 1] & 0xe0) != 0xe0) return at;
  // Layer III only: what lame writes.
  static const unsigned kBitrates[2][15] = {{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320},
                                            {0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160}};
  static const unsigned kRates[3] = {44100, 48000, 32000};
  const unsigned version = (bytes[at + 1] >> 3) & 3;  // 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
  const unsigned bitrate_index = bytes[at + 2] >> 4;
  const unsigned rate_index = (bytes[at + 2] >> 2) & 3;
  if (version == 1 || bitrate_index == 0 || bitrate_index == 15 || rate_index == 3) return at;
  const bool mpeg1 = version == 3;
  const unsigned rate = kRates[rate_index] >> (mpeg1 ? 0 : version == 2 ? 1 : 2);
  const unsigned bitrate = kBitrates[mpeg1 ? 0 : 1][bitrate_index] * 1000;
  const size_t padding = (bytes[at + 2] >> 1) & 1;
  return std::min(bytes.size(), at + (mpeg1 ? 144 : 72) * bitrate / rate + padding);
}

// Where the first Cluster starts: the EBML header, the Segment's and the
// Tracks (with the OpusHead) come before it.
size_t WebmHeadersEnd(const Bytes& bytes) {
  static const uint8_t kClusterId[] = {0x1f, 0x43, 0xb6, 0x75};
  const auto cluster = std::search(bytes.begin(), bytes.end(), std::begin(kClusterId), std::end(kClusterId));
  return static_cast<size_t>(cluster - bytes.begin());
}

size_t HeadersEnd(Codec codec, const Bytes& bytes) {
  switch (codec) {
    case Codec::kFlac:
      return FlacMetadataEnd(bytes);
    case Codec::kOggOpus:
    case Codec::kOggVorbis:
      return OggHeadersEnd(bytes);
    case Codec::kMp3:
      return Mp3HeadersEnd(bytes);
    case Codec::kWebmOpus:
      return WebmHeadersEnd(bytes);
  }
  return 0;
}

// ---- checksums -------------------------------------------------------------------

// Every whole Ogg page gets its CRC recomputed, so that libogg hands its
// (damaged) packets on instead of dropping the page.
void FixOggChecksums(Bytes* bytes) {
  for (size_t at = 0; at < bytes->size();) {
    const size_t length = OggPageLength(*bytes, at);
    if (length == 0) {
      at++;
      continue;
    }
    ogg_page page;
    page.header = bytes->data() + at;
    page.header_len = 27 + (*bytes)[at + 26];
    page.body = page.header + page.header_len;
    page.body_len = static_cast<long>(length) - page.header_len;
    ogg_page_checksum_set(&page);
    at += length;
  }
}

uint8_t FlacCrc8(const uint8_t* data, size_t count) {
  uint8_t crc = 0;
  for (size_t i = 0; i < count; i++) {
    crc ^= data[i];
    for (int bit = 0; bit < 8; bit++) crc = static_cast<uint8_t>(crc & 0x80 ? (crc << 1) ^ 0x07 : crc << 1);
  }
  return crc;
}

// Length of the FLAC frame header at `at` up to its CRC-8, when the sync code
// is there and the variable-length fields fit; 0 otherwise.
size_t FlacFrameHeaderLength(const Bytes& bytes, size_t at) {
  if (at + 5 > bytes.size() || bytes[at] != 0xff || (bytes[at + 1] & 0xfe) != 0xf8) return 0;
  const unsigned blocksize_code = bytes[at + 2] >> 4;
  const unsigned rate_code = bytes[at + 2] & 0x0f;
  // The frame or sample number, UTF-8 style: the leading ones say its length.
  const uint8_t lead = bytes[at + 4];
  size_t number = 1;
  if (lead >= 0x80) {
    if (lead < 0xc0 || lead == 0xff) return 0;
    while (number < 7 && (lead << number) & 0x80) number++;
  }
  const size_t blocksize_bytes = blocksize_code == 6 ? 1 : blocksize_code == 7 ? 2 : 0;
  const size_t rate_bytes = rate_code == 12 ? 1 : (rate_code == 13 || rate_code == 14) ? 2 : 0;
  const size_t length = 4 + number + blocksize_bytes + rate_bytes;
  return at + length < bytes.size() ? length : 0;
}

// Changes a byte or a bit in a few of the file's FLAC frame headers (those
// whose CRC-8 holds) and recomputes their CRC-8, so that libFLAC decodes the
// damaged header instead of resynchronising past it. Only real headers: giving
// every sync-like pair of bytes in the audio a valid CRC would make libFLAC
// take them all for frames, whatever the mutations did. The frame's CRC-16
// stays: libFLAC decodes the subframes before it checks that one.
void DamageFlacFrameHeaders(Bytes* bytes, Random* random) {
  std::vector<size_t> headers;
  const uint8_t* const begin = bytes->data();
  const uint8_t* const end = begin + bytes->size();
  for (const uint8_t* sync = begin + std::min(bytes->size(), std::max<size_t>(FlacMetadataEnd(*bytes), 4));
       (sync = static_cast<const uint8_t*>(std::memchr(sync, 0xff, static_cast<size_t>(end - sync)))) != nullptr;
       sync++) {
    const size_t at = static_cast<size_t>(sync - begin);
    const size_t length = FlacFrameHeaderLength(*bytes, at);
    if (length != 0 && (*bytes)[at + length] == FlacCrc8(sync, length)) headers.push_back(at);
  }
  for (size_t n = random->Between(1, 3); n > 0 && !headers.empty(); n--) {
    const size_t at = headers[random->Below(headers.size())];
    const size_t length = FlacFrameHeaderLength(*bytes, at);
    if (length == 0) continue;
    // Byte 1 holds the sync code's end: past it, every field is fair game.
    uint8_t& byte = (*bytes)[at + random->Between(1, length - 1)];
    byte = random->Chance(0.5) ? random->Byte() : static_cast<uint8_t>(byte ^ (1u << random->Below(8)));
    const size_t changed_length = FlacFrameHeaderLength(*bytes, at);
    if (changed_length != 0) (*bytes)[at + changed_length] = FlacCrc8(bytes->data() + at, changed_length);
  }
}

// ---- mutations -------------------------------------------------------------------

enum class Target { kBody, kHeaders, kAnywhere };

const char* TargetName(Target target) {
  switch (target) {
    case Target::kBody: return "in the body";
    case Target::kHeaders: return "in the headers";
    case Target::kAnywhere: return "anywhere";
  }
  return "?";
}

class Mutator {
 public:
  Mutator(Random* random, Bytes* bytes, Target target, size_t headers_end)
      : random_(random), bytes_(bytes), target_(target), headers_end_(headers_end), original_size_(bytes->size()) {}

  void MutateOnce() {
    switch (random_->Below(11)) {
      case 0:
        for (size_t n = random_->Between(1, 8); n > 0 && !bytes_->empty(); n--) (*bytes_)[Position()] = random_->Byte();
        break;
      case 1:
        for (size_t n = random_->Between(1, 8); n > 0 && !bytes_->empty(); n--) {
          (*bytes_)[Position()] ^= static_cast<uint8_t>(1u << random_->Below(8));
        }
        break;
      case 2: {
        // Small steps change a length or a count into a nearby, plausible one.
        if (bytes_->empty()) break;
        uint8_t& byte = (*bytes_)[Position()];
        const int step = static_cast<int>(random_->Between(1, 16));
        byte = static_cast<uint8_t>(random_->Chance(0.5) ? byte + step : byte - step);
        break;
      }
      case 3:
        bytes_->resize(Position());
        break;
      case 4: {
        const size_t at = Position();
        bytes_->erase(bytes_->begin() + at, bytes_->begin() + at + ChunkLength(at, 4096));
        break;
      }
      case 5: {
        if (Grown()) break;
        const size_t at = Position();
        const Bytes chunk(bytes_->begin() + at, bytes_->begin() + at + ChunkLength(at, 4096));
        for (size_t copies = random_->Between(1, 3); copies > 0; copies--) {
          bytes_->insert(bytes_->begin() + at, chunk.begin(), chunk.end());
        }
        break;
      }
      case 6: {
        if (Grown()) break;
        Bytes chunk(random_->Between(1, 1024));
        for (uint8_t& byte : chunk) byte = random_->Byte();
        const size_t at = Position();
        bytes_->insert(bytes_->begin() + at, chunk.begin(), chunk.end());
        break;
      }
      case 7: {
        if (bytes_->empty()) break;
        const size_t at = Position();
        const size_t length = ChunkLength(at, 512);
        std::memset(bytes_->data() + at, random_->Chance(0.5) ? 0x00 : 0xff, length);
        break;
      }
      case 8: {
        // Bytes from elsewhere in the file: sync codes, page headers and
        // frame headers in places they do not belong.
        if (bytes_->empty()) break;
        const size_t from = random_->Below(bytes_->size());
        const size_t at = Position();
        const size_t length = std::min(ChunkLength(from, 2048), bytes_->size() - at);
        std::memmove(bytes_->data() + at, bytes_->data() + from, length);
        break;
      }
      case 9: {
        // The headers again in the middle: a second stream's start, chained
        // Ogg streams, a FLAC or ID3 signature where audio was expected.
        if (Grown() || bytes_->empty()) break;
        const size_t length = std::min(bytes_->size(), std::max<size_t>(headers_end_, 64));
        const Bytes chunk(bytes_->begin(), bytes_->begin() + length);
        const size_t at = Position();
        bytes_->insert(bytes_->begin() + at, chunk.begin(), chunk.end());
        break;
      }
      case 10: {
        if (Grown()) break;
        const size_t from = random_->Below(bytes_->size());
        const Bytes chunk(bytes_->begin() + from, bytes_->begin() + from + ChunkLength(from, 2048));
        const size_t at = Position();
        bytes_->insert(bytes_->begin() + at, chunk.begin(), chunk.end());
        break;
      }
    }
  }

 private:
  // A position in the target region of the file as it is now; at most its size.
  size_t Position() {
    const size_t size = bytes_->size();
    size_t low = 0;
    size_t high = size;
    if (target_ == Target::kBody && headers_end_ < size) low = headers_end_;
    if (target_ == Target::kHeaders && headers_end_ > 0) high = std::min(headers_end_, size);
    return high == 0 ? 0 : low + random_->Below(high - low);
  }

  size_t ChunkLength(size_t at, size_t longest) {
    const size_t room = bytes_->size() - at;
    return room == 0 ? 0 : random_->Between(1, std::min(room, longest));
  }

  // Growth is capped so that a run's time stays what the seed files make it.
  bool Grown() const { return bytes_->size() > 2 * original_size_; }

  Random* random_;
  Bytes* bytes_;
  const Target target_;
  const size_t headers_end_;
  const size_t original_size_;
};

// What one file was made of, for the failure messages.
struct FuzzFile {
  Bytes bytes;
  size_t seed_file;
  Target target;
  size_t mutations;
  bool past_checksums;  // damage made to pass the Ogg page or FLAC frame header checksums
};

FuzzFile MakeFuzzFile(Codec codec, const std::vector<Bytes>& seeds, const std::vector<size_t>& headers_ends,
                      size_t seed_index, Random* random) {
  FuzzFile file;
  file.seed_file = seed_index;
  file.bytes = seeds[seed_index];
  const size_t pick = random->Below(100);
  file.target = pick < 60 ? Target::kBody : pick < 80 ? Target::kHeaders : Target::kAnywhere;
  // Mostly one to four changes, so that most of a file still decodes; now
  // and then a file badly damaged throughout.
  file.mutations = random->Chance(0.9) ? random->Between(1, 4) : random->Between(8, 32);
  Mutator mutator(random, &file.bytes, file.target, headers_ends[seed_index]);
  for (size_t i = 0; i < file.mutations; i++) mutator.MutateOnce();
  const bool has_checksums = codec == Codec::kFlac || codec == Codec::kOggOpus || codec == Codec::kOggVorbis;
  file.past_checksums = has_checksums && random->Chance(0.5);
  if (file.past_checksums) {
    if (codec == Codec::kFlac) {
      DamageFlacFrameHeaders(&file.bytes, random);
    } else {
      FixOggChecksums(&file.bytes);
    }
  }
  return file;
}

// ---- the decoder's ends ----------------------------------------------------------

// The body in reads of random sizes from 1 byte up to a longest that each
// file draws: 16 bytes (a trickle), 512, 4 KiB or 64 KiB. Not one byte per
// read throughout: libmpg123, fed that way, parses its look-ahead again on
// every byte (a free-format header's size search scans up to 3.5 KB), and a
// 20 KB file can take half a second without ASan, which measures the
// library's feed loop rather than finding a hang; a trickle has single
// bytes enough.
class ChunkedSource final : public speakerd::ByteSource {
 public:
  ChunkedSource(const Bytes& bytes, Random* random) : bytes_(bytes), random_(random) {
    const size_t pick = random_->Below(100);
    longest_read_ = pick < 10 ? 16 : pick < 30 ? 512 : pick < 50 ? 4096 : 65536;
  }

  size_t Read(uint8_t* dst, size_t max) override {
    const size_t count = std::min({max, bytes_.size() - at_, random_->Between(1, longest_read_)});
    if (count == 0) return 0;
    std::memcpy(dst, bytes_.data() + at_, count);
    at_ += count;
    return count;
  }

 private:
  const Bytes& bytes_;
  Random* random_;
  size_t longest_read_;
  size_t at_ = 0;
};

bool IsDecoderFormat(snd_pcm_format_t format) {
  return format == SND_PCM_FORMAT_S16_LE || format == SND_PCM_FORMAT_S24_3LE || format == SND_PCM_FORMAT_S32_LE ||
         format == SND_PCM_FORMAT_FLOAT_LE;
}

// Plays the decode thread's part (decode_thread.cc): the first format must be
// playable and may not change. Every sample is read, so that AddressSanitizer
// sees the frames are really there and valgrind that they are initialised.
class CheckingSink final : public speakerd::PcmSink {
 public:
  CheckingSink(std::string name, long refuse_at_emit) : name_(std::move(name)), refuse_at_emit_(refuse_at_emit) {}

  bool Emit(const AudioFormat& format, const uint8_t* frames, size_t count) override {
    if (frames == nullptr || count == 0 || format.channels == 0 || !IsDecoderFormat(format.format)) {
      Fail(name_ + ": emitted " + std::to_string(count) + " frames of " + snd_pcm_format_name(format.format) + ", " +
           std::to_string(format.channels) + " channels" + (frames == nullptr ? " from a null pointer" : ""));
      return false;
    }
    if (frames_ == 0 && emits_ == 0) {
      format_ = format;
      // What the converter refuses (StreamInput::SetFormat): the stream ends
      // with E_DECODE_FAILED, which is right for a file that says so, so it
      // is counted, not failed.
      if (format.rate < speakerd::kMinInputRate || format.rate > speakerd::kMaxRate ||
          format.channels > speakerd::kMaxInputChannels) {
        unplayable_ = true;
        return false;
      }
    } else if (format.format != format_.format || format.rate != format_.rate ||
               format.channels != format_.channels) {
      format_changed_ = true;
      return false;
    }
    ReadSamples(format, frames, count);
    frames_ += count;
    if (++emits_ == refuse_at_emit_) {
      refused_ = true;
      return false;
    }
    return true;
  }

  uint64_t frames() const { return frames_; }
  uint64_t non_finite() const { return non_finite_; }
  bool unplayable() const { return unplayable_; }
  bool format_changed() const { return format_changed_; }
  bool refused() const { return refused_; }

 private:
  void ReadSamples(const AudioFormat& format, const uint8_t* frames, size_t count) {
    const size_t samples = count * format.channels;
    if (format.format == SND_PCM_FORMAT_FLOAT_LE) {
      for (size_t i = 0; i < samples; i++) {
        float sample;
        std::memcpy(&sample, frames + i * sizeof sample, sizeof sample);
        if (!std::isfinite(sample)) non_finite_++;
      }
      return;
    }
    const size_t bytes = samples * static_cast<size_t>(snd_pcm_format_physical_width(format.format) / 8);
    uint8_t mix = 0;
    for (size_t i = 0; i < bytes; i++) mix ^= frames[i];
    // One branch that depends on every byte: valgrind reports any uninitialised one here.
    if (mix == 0) zero_mixes_++;
  }

  const std::string name_;
  const long refuse_at_emit_;  // -1: never
  AudioFormat format_{};
  long emits_ = 0;
  uint64_t frames_ = 0;
  uint64_t non_finite_ = 0;
  uint64_t zero_mixes_ = 0;
  bool unplayable_ = false;
  bool format_changed_ = false;
  bool refused_ = false;
};

// ---- the run ---------------------------------------------------------------------

// The file being decoded (-1: none), since when, and how to replay it, for
// the report of a crash or a hang: a sanitizer, a signal or the watch ends
// the process inside a library, where nothing else says which file it was.
std::atomic<long> g_decoding{-1};
std::atomic<Clock::rep> g_decoding_since{0};
std::string g_replay;  // set before the first decode, read-only after

void SayWhichFileCrashed() {
  const long index = g_decoding.load();
  if (index < 0) return;
  char line[2048];
  const int length = std::snprintf(line, sizeof line, "decoder_fuzz: FAIL file %ld crashed (replay: %s --only=%ld)\n",
                                   index, g_replay.c_str(), index);
  if (length > 0) (void)!write(STDOUT_FILENO, line, std::min(static_cast<size_t>(length), sizeof line - 1));
}

#if defined(__SANITIZE_ADDRESS__)
void ReportCrashes() {
  __sanitizer_set_death_callback(&SayWhichFileCrashed);
  // g++ links UndefinedBehaviorSanitizer's runtime as a library of its own,
  // with its own copy of the callback, which its reports die through.
  if (void* ubsan = dlopen("libubsan.so.1", RTLD_NOW | RTLD_NOLOAD)) {
    using SetDeathCallback = void (*)(void (*)());
    auto set = reinterpret_cast<SetDeathCallback>(dlsym(ubsan, "__sanitizer_set_death_callback"));
    if (set != nullptr) set(&SayWhichFileCrashed);
    dlclose(ubsan);
  }
}
#else
void OnFatalSignal(int signal_number) {
  SayWhichFileCrashed();
  raise(signal_number);  // SA_RESETHAND: now the default action, a core or valgrind's report
}

void ReportCrashes() {
  struct sigaction action {};
  action.sa_handler = &OnFatalSignal;
  action.sa_flags = SA_RESETHAND;
  for (int signal_number : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) sigaction(signal_number, &action, nullptr);
}
#endif

// Ends the process with the file's replay when one decode hangs, instead of
// leaving it to the outer timeout, which would say nothing about the file.
class HangWatch {
 public:
  explicit HangWatch(std::chrono::milliseconds hang) : hang_(hang), thread_([this] { Watch(); }) {}
  ~HangWatch() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }

 private:
  void Watch() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!wake_.wait_for(lock, std::chrono::milliseconds(100), [this] { return done_; })) {
      // Read in the order opposite to the writes: the start time is never
      // older than the file's whose index was read.
      const long index = g_decoding.load();
      const Clock::time_point since{Clock::duration(g_decoding_since.load())};
      if (index >= 0 && Clock::now() - since > hang_) {
        std::printf("decoder_fuzz: FAIL file %ld still decoding after %lld ms: a hang (replay: %s --only=%ld)\n",
                    index, static_cast<long long>(hang_.count()), g_replay.c_str(), index);
        std::_Exit(1);
      }
    }
  }

  const std::chrono::milliseconds hang_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;  // last: starts once everything above is set up
};

struct Totals {
  size_t files = 0;
  double max_ms = 0;
  size_t slowest = 0;
  double total_ms = 0;
  size_t decoded = 0;  // files of which some frames came out
  uint64_t frames = 0;
  uint64_t errors_counted = 0;
  size_t failed_opens = 0;  // files refused with E_DECODE_FAILED
  size_t truncated = 0;
  size_t refused_early = 0;
  size_t unplayable = 0;
  size_t format_changes = 0;
  uint64_t non_finite = 0;
  size_t decoded_again = 0;  // decodes over the limit that were tried again
};

struct Options {
  Codec codec;
  size_t count;
  uint64_t seed;
  std::vector<std::string> seed_paths;
  double limit_ms = 1000;
  long only = -1;
  std::string dump;
};

std::string ReplayCommand(const char* program, const Options& options) {
  std::string command = std::string(program) + " " + speakerd::CodecName(options.codec) + " " +
                        std::to_string(options.count) + " " + std::to_string(options.seed);
  for (const std::string& path : options.seed_paths) command += " " + path;
  return command;
}

// The device formats a decoder may be told of: MP3 decodes to S16 for the
// one, float for the other.
constexpr snd_pcm_format_t kDeviceFormats[] = {SND_PCM_FORMAT_S16_LE, SND_PCM_FORMAT_FLOAT_LE};

// Decodes a seed file as it is: the fuzz means little unless the
// decoder plays its seeds cleanly.
void CheckSeed(Codec codec, const std::string& path, const Bytes& bytes) {
  for (snd_pcm_format_t device_format : kDeviceFormats) {
    Random random(0);
    ChunkedSource source(bytes, &random);
    CheckingSink sink(path, -1);
    const DecodeReport report = speakerd::CreateDecoder(codec, device_format)->Run(&source, &sink);
    if (!report.error.ok() || report.decode_errors != 0 || report.truncated || sink.frames() == 0) {
      Fail("seed " + path + " does not decode cleanly for a " + snd_pcm_format_name(device_format) +
           " device: frames=" + std::to_string(sink.frames()) + " decode_errors=" +
           std::to_string(report.decode_errors) + " truncated=" + std::to_string(report.truncated) +
           " error=" + report.error.code + " " + report.error.message);
    }
  }
}

int Fuzz(const char* program, const Options& options) {
  std::vector<Bytes> seeds;
  std::vector<size_t> headers_ends;
  for (const std::string& path : options.seed_paths) {
    seeds.push_back(ReadWholeFile(path));
    headers_ends.push_back(HeadersEnd(options.codec, seeds.back()));
    if (seeds.back().empty()) {
      Fail("cannot read seed file " + path);
      return 1;
    }
    CheckSeed(options.codec, path, seeds.back());
  }

  g_replay = ReplayCommand(program, options);
  ReportCrashes();
  HangWatch watch(std::chrono::milliseconds(static_cast<long long>(std::max(10000.0, 3 * options.limit_ms))));
  Totals totals;
  const size_t first = options.only >= 0 ? static_cast<size_t>(options.only) : 0;
  const size_t end = options.only >= 0 ? first + 1 : options.count;
  for (size_t index = first; index < end; index++) {
    Random random(SplitMix64(options.seed * 0x100000001B3ull + index));
    const FuzzFile file = MakeFuzzFile(options.codec, seeds, headers_ends, index % seeds.size(), &random);
    if (!options.dump.empty() && !WriteWholeFile(options.dump, file.bytes)) Fail("cannot write " + options.dump);
    const snd_pcm_format_t device_format = kDeviceFormats[random.Below(std::size(kDeviceFormats))];
    const std::string name = "file " + std::to_string(index) + " (" + options.seed_paths[file.seed_file] + ", " +
                             std::to_string(file.mutations) + (file.mutations == 1 ? " mutation " : " mutations ") +
                             TargetName(file.target) + (file.past_checksums ? ", past the checksums" : "") +
                             ", for a " + snd_pcm_format_name(device_format) + " device)";
    const long refuse_at_emit = random.Chance(0.03) ? static_cast<long>(random.Between(1, 8)) : -1;

    // A file over the limit is decoded again, the same way, up to twice, and
    // its fastest time counts: a stall of the whole process (a loaded
    // machine) does not come back, a slow decode does.
    const Random reads = random;
    std::unique_ptr<CheckingSink> sink;
    DecodeReport report;
    double ms = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
      Random attempt_reads = reads;
      ChunkedSource source(file.bytes, &attempt_reads);
      sink = std::make_unique<CheckingSink>(name, refuse_at_emit);
      const int failures_before = failures;
      const auto started = Clock::now();
      g_decoding_since = started.time_since_epoch().count();
      g_decoding = static_cast<long>(index);
      report = speakerd::CreateDecoder(options.codec, device_format)->Run(&source, sink.get());
      g_decoding = -1;
      const double attempt_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
      ms = attempt == 0 ? attempt_ms : std::min(ms, attempt_ms);
      // A sink that failed would only say so again.
      if (ms <= options.limit_ms || failures != failures_before) break;
      totals.decoded_again++;
    }

    totals.files++;
    totals.total_ms += ms;
    if (ms > totals.max_ms) {
      totals.max_ms = ms;
      totals.slowest = index;
    }
    if (ms > options.limit_ms) {
      char took[32];
      std::snprintf(took, sizeof took, "%.1f", ms);
      Fail(name + " took " + took + " ms to decode, each of three times (replay: " + g_replay +
           " --only=" + std::to_string(index) + ")");
    }
    if (!report.error.ok() && (report.error.code != "E_DECODE_FAILED" || report.error.message.empty())) {
      Fail(name + ": error " + report.error.code + " '" + report.error.message + "', want E_DECODE_FAILED");
    }
    if (options.only >= 0) {
      std::printf("decoder_fuzz: %s: %.1f ms, frames=%" PRIu64 " decode_errors=%" PRIu64 " truncated=%d error=%s%s%s\n",
                  name.c_str(), ms, sink->frames(), report.decode_errors, report.truncated ? 1 : 0,
                  report.error.ok() ? "none" : report.error.code.c_str(), report.error.ok() ? "" : " ",
                  report.error.message.c_str());
    }
    if (sink->frames() > 0) totals.decoded++;
    totals.frames += sink->frames();
    totals.errors_counted += report.decode_errors;
    totals.failed_opens += report.error.ok() ? 0 : 1;
    totals.truncated += report.truncated ? 1 : 0;
    totals.refused_early += sink->refused() ? 1 : 0;
    totals.unplayable += sink->unplayable() ? 1 : 0;
    totals.format_changes += sink->format_changed() ? 1 : 0;
    totals.non_finite += sink->non_finite();
  }

  // Both ends of the damage must have been reached: the header parsers
  // (files refused) and the frame decoders (files that played in part).
  if (options.only < 0 && (totals.decoded == 0 || totals.failed_opens == 0 || totals.errors_counted == 0)) {
    Fail("the mutations reached too little: decoded=" + std::to_string(totals.decoded) +
         " failed_opens=" + std::to_string(totals.failed_opens) +
         " errors_counted=" + std::to_string(totals.errors_counted));
  }
  std::printf(
      "decoder_fuzz: codec=%s seed=%" PRIu64 " files=%zu max_ms=%.1f slowest=%zu mean_ms=%.2f decoded=%zu "
      "frames=%" PRIu64 " errors_counted=%" PRIu64 " failed_opens=%zu truncated=%zu refused_early=%zu "
      "unplayable=%zu format_changes=%zu non_finite=%" PRIu64 " decoded_again=%zu\n",
      speakerd::CodecName(options.codec), options.seed, totals.files, totals.max_ms, totals.slowest,
      totals.files ? totals.total_ms / totals.files : 0.0, totals.decoded, totals.frames, totals.errors_counted,
      totals.failed_opens, totals.truncated, totals.refused_early, totals.unplayable, totals.format_changes,
      totals.non_finite, totals.decoded_again);
  return failures == 0 ? 0 : 1;
}

// ---- the seed files' audio ---------------------------------------------------------

// Tones a few hundred Hz apart per channel with a little noise, as
// test/compressed-fixtures.ts makes them: the lossy encoders then code
// something music-like rather than near-silence.
int WriteTone(const std::string& path, unsigned rate, unsigned channels, unsigned bits, double seconds) {
  if (bits != 16 && bits != 24) {
    std::fprintf(stderr, "decoder_fuzz: tone: bits must be 16 or 24\n");
    return 2;
  }
  const size_t frames = static_cast<size_t>(seconds * rate);
  const size_t bytes_per_sample = bits / 8;
  const uint32_t data_bytes = static_cast<uint32_t>(frames * channels * bytes_per_sample);
  Bytes wav;
  auto put = [&wav](uint32_t value, size_t bytes) {
    for (size_t i = 0; i < bytes; i++) wav.push_back(static_cast<uint8_t>(value >> (8 * i)));
  };
  auto tag = [&wav](const char* id) { wav.insert(wav.end(), id, id + 4); };
  tag("RIFF");
  put(36 + data_bytes, 4);
  tag("WAVE");
  tag("fmt ");
  put(16, 4);
  put(1, 2);
  put(channels, 2);
  put(rate, 4);
  put(static_cast<uint32_t>(rate * channels * bytes_per_sample), 4);
  put(static_cast<uint32_t>(channels * bytes_per_sample), 2);
  put(bits, 2);
  tag("data");
  put(data_bytes, 4);
  Random noise(7);
  const double full_scale = bits == 16 ? 32767 : 8388607;
  for (size_t i = 0; i < frames; i++) {
    for (unsigned c = 0; c < channels; c++) {
      const double v = 0.45 * std::sin(2 * M_PI * (330 + 110 * c) * static_cast<double>(i) / rate) +
                       0.05 * (static_cast<double>(noise.Below(1 << 16)) / (1 << 16) - 0.5);
      put(static_cast<uint32_t>(static_cast<int32_t>(std::lround(v * full_scale))), bytes_per_sample);
    }
  }
  if (!WriteWholeFile(path, wav)) {
    std::fprintf(stderr, "decoder_fuzz: cannot write %s\n", path.c_str());
    return 1;
  }
  return 0;
}

int Usage() {
  std::fprintf(stderr,
               "usage: decoder_fuzz [--limit-ms=N] [--only=INDEX] [--dump=PATH] CODEC COUNT SEED SEED_FILE...\n"
               "       decoder_fuzz tone PATH RATE CHANNELS BITS SECONDS\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Line by line: LeakSanitizer ends the process at exit before stdio would
  // flush, and the result line must be in the log above its report.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "tone") {
    if (args.size() != 6) return Usage();
    return WriteTone(args[1], static_cast<unsigned>(std::stoul(args[2])), static_cast<unsigned>(std::stoul(args[3])),
                     static_cast<unsigned>(std::stoul(args[4])), std::stod(args[5]));
  }
  Options options{};
  std::vector<std::string> positional;
  for (const std::string& arg : args) {
    if (arg.rfind("--limit-ms=", 0) == 0) {
      options.limit_ms = std::stod(arg.substr(11));
    } else if (arg.rfind("--only=", 0) == 0) {
      options.only = std::stol(arg.substr(7));
    } else if (arg.rfind("--dump=", 0) == 0) {
      options.dump = arg.substr(7);
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() < 4 || !speakerd::ParseCodec(positional[0], &options.codec)) return Usage();
  options.count = std::stoul(positional[1]);
  options.seed = std::stoull(positional[2]);
  options.seed_paths.assign(positional.begin() + 3, positional.end());
  return Fuzz(argv[0], options);
}
