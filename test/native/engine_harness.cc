// Drives the real playback engine (PcmDevice, PlaybackThread, StreamState,
// Mixer, the clock sink) with the real, statically linked alsa-lib, so that
// AddressSanitizer, UndefinedBehaviorSanitizer, LeakSanitizer,
// ThreadSanitizer and valgrind see every allocation and every thread handoff
// a device's life involves.
// No N-API: this file plays the JS thread's part itself.
//
// Usage: engine_harness [CYCLES]   (ALSA_CONFIG_DIR must point at share/alsa)
// Prints every failed expectation and exits 1 if there was any.
#include <alsa/asoundlib.h>
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "alsa_log.h"
#include "clock_sink.h"
#include "device_error.h"
#include "pcm_device.h"
#include "playback_thread.h"
#include "stream_state.h"

namespace {

using namespace speakerd;
using Clock = std::chrono::steady_clock;

// Generous: sanitizers and valgrind slow everything down many times.
constexpr auto kRetireTimeout = std::chrono::seconds(20);
constexpr auto kProducerTimeout = std::chrono::seconds(20);

// Atomic: a loss cycle's racer thread checks too.
std::atomic<int> g_failures{0};
std::atomic<int> g_checks{0};

void Expect(bool ok, const char* format, ...) __attribute__((format(printf, 2, 3)));
void Expect(bool ok, const char* format, ...) {
  ++g_checks;
  if (ok) return;
  ++g_failures;
  std::va_list args;
  va_start(args, format);
  std::fputs("engine_harness: FAIL: ", stderr);
  std::vfprintf(stderr, format, args);
  std::fputc('\n', stderr);
  va_end(args);
}

const char* PhaseName(StreamPhase phase) {
  switch (phase) {
    case StreamPhase::kBuffering: return "buffering";
    case StreamPhase::kPlaying: return "playing";
    case StreamPhase::kFinishing: return "finishing";
    case StreamPhase::kRetired: return "retired";
  }
  return "?";
}

std::string FilePcmConfig(const std::string& name, const std::string& path) {
  return "pcm." + name + " { type file slave.pcm null file \"" + path + "\" format raw }";
}

std::vector<uint8_t> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Little-endian signed samples of 2 or 3 bytes: the two formats the cycles
// use, one with 4-byte and one with 6-byte stereo frames.
struct SampleCodec {
  snd_pcm_format_t format;
  size_t bytes;
  int32_t max;

  void Put(uint8_t* at, int32_t value) const {
    for (size_t i = 0; i < bytes; ++i) at[i] = static_cast<uint8_t>(static_cast<uint32_t>(value) >> (8 * i));
  }
  int32_t Get(const uint8_t* at) const {
    uint32_t raw = 0;
    for (size_t i = 0; i < bytes; ++i) raw |= static_cast<uint32_t>(at[i]) << (8 * i);
    const uint32_t sign = 1u << (8 * bytes - 1);
    return static_cast<int32_t>((raw ^ sign) - sign);
  }
};

constexpr SampleCodec kS16{SND_PCM_FORMAT_S16_LE, 2, 32767};
constexpr SampleCodec kS24_3{SND_PCM_FORMAT_S24_3LE, 3, 8388607};

// Polls until pred() or the timeout; true if pred() held.
bool WaitFor(const std::function<bool()>& pred, Clock::duration timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

// What the harness keeps of a stream once it has freed it.
struct RetiredStream {
  bool retired = false;
  StreamOutcome outcome = StreamOutcome::kNone;
  uint64_t frames_played = 0;
};

// Waits for the stream to retire and then frees it at once, as the JS side
// may (stream_state.h: the kStreamDone bit is the playback thread's last
// touch), so that any later touch by the playback thread is a use-after-free
// the sanitizers report.
RetiredStream AwaitRetireAndFree(std::unique_ptr<StreamState>& stream) {
  RetiredStream result;
  result.retired = WaitFor([&] { return (stream->events.load(std::memory_order_acquire) & kStreamDone) != 0; },
                           kRetireTimeout);
  if (!result.retired) {
    Expect(false, "stream %u not retired within the timeout (phase %s, %" PRIu64 " frames played)", stream->id,
           PhaseName(stream->Phase()), stream->frames_played.load());
    return result;  // still attached: it must outlive the thread's Stop()
  }
  result.outcome = static_cast<StreamOutcome>(stream->outcome.load(std::memory_order_acquire));
  result.frames_played = stream->frames_played.load(std::memory_order_relaxed);
  stream.reset();
  return result;
}

// Writes `frames` frames into the stream's ring in chunks of random size,
// waking the playback thread after each write. Gives up after the timeout.
bool WriteAll(PlaybackThread& playback, StreamState& stream, const std::vector<uint8_t>& data, size_t frame_bytes,
              std::mt19937& rng) {
  const size_t frames = data.size() / frame_bytes;
  std::uniform_int_distribution<size_t> chunk(1, 700);
  const auto deadline = Clock::now() + kProducerTimeout;
  size_t done = 0;
  while (done < frames) {
    const size_t want = std::min(chunk(rng), frames - done);
    const size_t wrote = stream.ring.Write(data.data() + done * frame_bytes, want);
    done += wrote;
    playback.ProducerProgress();
    if (wrote < want) {
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
  return true;
}

PcmRequest FileRequest(const std::string& path, const SampleCodec& codec, unsigned period_frames) {
  PcmRequest request;
  request.pcm = "out";
  request.alsa_config = FilePcmConfig("out", path);
  request.format = codec.format;
  request.rate = 48000;
  request.channels = 2;
  request.period_frames = period_frames;
  request.periods = 4;
  return request;
}

PlaybackOptions WaitPolicy() {
  PlaybackOptions options;
  options.policy = UnderrunPolicy::kWait;
  options.realtime = false;  // SCHED_FIFO could starve the harness on two cores
  return options;
}

// The device and thread checks shared by every cycle.
void ExpectCleanDevice(PlaybackThread& playback, const char* what, int cycle) {
  const DeviceError fatal = playback.fatal_error();
  Expect(fatal.ok(), "%s %d: the playback thread failed: %s %s", what, cycle, fatal.code.c_str(),
         fatal.message.c_str());
  Expect((playback.TakeDeviceEvents() & kDeviceError) == 0, "%s %d: device error event raised", what, cycle);
  Expect(playback.xruns() == 0, "%s %d: %" PRIu64 " xruns on an unpaced file PCM", what, cycle, playback.xruns());
}

// One stream at unity gain: the file must hold exactly the bytes written.
void SoloCycle(int cycle, const std::string& path, std::mt19937& rng) {
  const SampleCodec& codec = (cycle / 4) % 2 == 0 ? kS16 : kS24_3;
  DeviceError error;
  std::unique_ptr<PcmDevice> device = PcmDevice::Open(FileRequest(path, codec, 256), &error);
  if (!device) {
    Expect(false, "solo %d: open failed: %s %s", cycle, error.code.c_str(), error.message.c_str());
    return;
  }
  const size_t frame_bytes = device->format().frame_bytes;
  Expect(frame_bytes == 2 * codec.bytes, "solo %d: frame_bytes %zu", cycle, frame_bytes);
  const size_t period = device->format().period_frames;

  // Full-range samples, zeros included: a byte-exact copy is the only pass.
  const size_t frames = 1000 + rng() % 9000;
  std::vector<uint8_t> samples(frames * frame_bytes);
  std::uniform_int_distribution<int32_t> sample(-codec.max - 1, codec.max);
  for (size_t i = 0; i < frames * 2; ++i) codec.Put(&samples[i * codec.bytes], sample(rng));

  std::atomic<uint64_t> notifications{0};
  {
    PlaybackThread playback(std::move(device), WaitPolicy(), [&] { notifications.fetch_add(1); });
    playback.Start();
    auto stream = std::make_unique<StreamState>(1, period * 2, frame_bytes, 1.0f);
    Expect(playback.Attach(stream.get()) == PlaybackThread::AttachResult::kAttached, "solo %d: attach refused", cycle);
    Expect(WriteAll(playback, *stream, samples, frame_bytes, rng), "solo %d: producer timed out", cycle);
    stream->ended.store(true, std::memory_order_release);
    playback.ProducerProgress();
    const RetiredStream done = AwaitRetireAndFree(stream);
    if (done.retired) {
      Expect(done.outcome == StreamOutcome::kPlayed, "solo %d: outcome %d, want played", cycle,
             static_cast<int>(done.outcome));
      Expect(done.frames_played == frames, "solo %d: %" PRIu64 " frames played, want %zu", cycle, done.frames_played,
             frames);
    }
    playback.Stop();
    ExpectCleanDevice(playback, "solo", cycle);
    Expect(notifications.load() > 0, "solo %d: notify never called", cycle);
  }  // closes the PCM, which flushes the file

  const std::vector<uint8_t> written = ReadWholeFile(path);
  Expect(written == samples, "solo %d (%s): file has %zu bytes, want exactly the %zu bytes written%s", cycle,
         snd_pcm_format_name(codec.format), written.size(), samples.size(),
         written.size() >= samples.size() && std::equal(samples.begin(), samples.end(), written.begin())
             ? " (the samples are there, followed by extra frames)"
             : "");
}

// How a mix cycle lets go of its streams.
enum class MixEnding {
  kEndAndAbort,       // music ended, voice aborted, both retired, then Stop()
  kStopMidStream,     // Stop() while both are still attached and fed
  kDestroyMidStream,  // the PlaybackThread destructor while both are attached
};

const char* EndingName(MixEnding ending) {
  switch (ending) {
    case MixEnding::kEndAndAbort: return "end+abort";
    case MixEnding::kStopMidStream: return "stop mid-stream";
    case MixEnding::kDestroyMidStream: return "destroy mid-stream";
  }
  return "?";
}

// Two streams with different gains. The signals are built so that the mix
// can be checked whatever way the playback thread happened to interleave
// them: `music` (gain 1.0) lives only in the left channel, `voice` (gain 0.5,
// even values) only in the right, and neither is ever zero. So every output
// frame's left sample is either the next music sample or zero, and its right
// sample is either half the next voice sample or zero.
void MixCycle(int cycle, const std::string& path, std::mt19937& rng, MixEnding ending) {
  const SampleCodec& codec = cycle % 3 == 0 ? kS24_3 : kS16;
  const unsigned period_request = cycle % 2 == 0 ? 64 : 256;
  const char* ending_name = EndingName(ending);
  DeviceError error;
  std::unique_ptr<PcmDevice> device = PcmDevice::Open(FileRequest(path, codec, period_request), &error);
  if (!device) {
    Expect(false, "mix %d: open failed: %s %s", cycle, error.code.c_str(), error.message.c_str());
    return;
  }
  const size_t frame_bytes = device->format().frame_bytes;
  const size_t period = device->format().period_frames;

  const size_t music_frames = 500 + rng() % 6000;
  const size_t voice_frames = 500 + rng() % 6000;  // written before the abort
  std::vector<int32_t> music(music_frames), voice(voice_frames);
  std::uniform_int_distribution<int32_t> magnitude(1, codec.max / 2);
  for (int32_t& s : music) s = rng() % 2 ? magnitude(rng) : -magnitude(rng);
  for (int32_t& s : voice) s = 2 * (rng() % 2 ? magnitude(rng) : -magnitude(rng));
  std::vector<uint8_t> music_bytes(music_frames * frame_bytes, 0), voice_bytes(voice_frames * frame_bytes, 0);
  for (size_t i = 0; i < music_frames; ++i) codec.Put(&music_bytes[i * frame_bytes], music[i]);
  for (size_t i = 0; i < voice_frames; ++i) codec.Put(&voice_bytes[i * frame_bytes + codec.bytes], voice[i]);

  // Declared before the thread so that, whatever the ending, the streams
  // outlive it unless they are freed on retirement.
  auto music_stream = std::make_unique<StreamState>(1, period * 2 + rng() % 512, frame_bytes, 1.0f);
  auto voice_stream = std::make_unique<StreamState>(2, period * 2 + rng() % 512, frame_bytes, 0.5f);
  auto playback = std::make_unique<PlaybackThread>(std::move(device), WaitPolicy(), [] {});
  playback->Start();
  Expect(playback->Attach(music_stream.get()) == PlaybackThread::AttachResult::kAttached, "mix %d: attach music refused", cycle);
  Expect(playback->Attach(voice_stream.get()) == PlaybackThread::AttachResult::kAttached, "mix %d: attach voice refused", cycle);

  // Feed both streams in alternating random chunks. The wait policy stalls
  // every stream while one playing stream is dry, so each stream is closed
  // (voice aborted, music ended) as soon as its last frame is written. A
  // mid-stream ending stops feeding halfway through the music instead.
  const size_t music_to_write = ending == MixEnding::kEndAndAbort ? music_frames : music_frames / 2;
  std::uniform_int_distribution<size_t> chunk(1, 600);
  size_t music_written = 0, voice_written = 0;
  const auto deadline = Clock::now() + kProducerTimeout;
  bool timed_out = false;
  while (music_written < music_to_write) {
    size_t progress = 0;
    const size_t n = music_stream->ring.Write(music_bytes.data() + music_written * frame_bytes,
                                              std::min(chunk(rng), music_to_write - music_written));
    music_written += n;
    progress += n;
    if (music_written == music_frames) music_stream->ended.store(true, std::memory_order_release);
    if (voice_written < voice_frames) {
      const size_t m = voice_stream->ring.Write(voice_bytes.data() + voice_written * frame_bytes,
                                                std::min(chunk(rng), voice_frames - voice_written));
      voice_written += m;
      progress += m;
      if (voice_written == voice_frames) voice_stream->aborted.store(true, std::memory_order_release);
    }
    playback->ProducerProgress();
    if (progress == 0) {
      if (Clock::now() > deadline) {
        timed_out = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
  Expect(!timed_out, "mix %d (%s): producer stalled at music %zu/%zu, voice %zu/%zu", cycle, ending_name,
         music_written, music_frames, voice_written, voice_frames);
  if (ending == MixEnding::kEndAndAbort && voice_written < voice_frames) {
    voice_stream->aborted.store(true, std::memory_order_release);  // before its quota: music has ended first
    playback->ProducerProgress();
  }
  if (timed_out) {
    // Unblock the thread so that the cycle can still be torn down.
    music_stream->aborted.store(true);
    voice_stream->aborted.store(true);
    playback->ProducerProgress();
  }

  RetiredStream music_done, voice_done;
  if (ending == MixEnding::kEndAndAbort) {
    music_done = AwaitRetireAndFree(music_stream);
    voice_done = AwaitRetireAndFree(voice_stream);
    playback->Stop();
  } else {
    // Let the thread mix some of what is buffered, then pull the device away
    // from under the attached streams, as closing a device does.
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 2000));
    if (ending == MixEnding::kStopMidStream) playback->Stop();
  }
  ExpectCleanDevice(*playback, "mix", cycle);
  playback.reset();  // joins the thread if still running, closes the PCM and flushes the file

  if (ending != MixEnding::kEndAndAbort) {
    // The thread is gone: the streams are ours again, still attached in its
    // eyes, with whatever counts it left.
    for (auto* stream : {music_stream.get(), voice_stream.get()}) {
      Expect(stream->Phase() != StreamPhase::kRetired || stream->aborted.load(),
             "mix %d (%s): stream %u retired (outcome %d) although neither ended nor aborted", cycle, ending_name,
             stream->id, stream->outcome.load());
    }
    music_done.frames_played = music_stream->frames_played.load();
    voice_done.frames_played = voice_stream->frames_played.load();
    music_stream.reset();
    voice_stream.reset();
  } else {
    if (!music_done.retired || !voice_done.retired) return;
    Expect(music_done.outcome == StreamOutcome::kPlayed, "mix %d: music outcome %d, want played", cycle,
           static_cast<int>(music_done.outcome));
    Expect(music_done.frames_played == music_frames, "mix %d: music played %" PRIu64 " of %zu frames", cycle,
           music_done.frames_played, music_frames);
    Expect(voice_done.outcome == StreamOutcome::kAborted, "mix %d: voice outcome %d, want aborted", cycle,
           static_cast<int>(voice_done.outcome));
  }
  Expect(voice_done.frames_played <= voice_written, "mix %d (%s): voice played %" PRIu64 " frames, only %zu written",
         cycle, ending_name, voice_done.frames_played, voice_written);

  const std::vector<uint8_t> written = ReadWholeFile(path);
  if (written.size() % frame_bytes != 0) {
    Expect(false, "mix %d: file of %zu bytes is not whole %zu-byte frames", cycle, written.size(), frame_bytes);
    return;
  }
  size_t next_music = 0, next_voice = 0, silent_frames = 0;
  for (size_t f = 0; f < written.size() / frame_bytes; ++f) {
    const int32_t left = codec.Get(&written[f * frame_bytes]);
    const int32_t right = codec.Get(&written[f * frame_bytes + codec.bytes]);
    if (left == 0 && right == 0) ++silent_frames;
    if (left != 0) {
      if (next_music >= music_frames || left != music[next_music]) {
        Expect(false, "mix %d (%s): frame %zu left is %d, want music sample %zu (%d)", cycle, ending_name, f, left,
               next_music, next_music < music_frames ? music[next_music] : 0);
        return;
      }
      ++next_music;
    }
    if (right != 0) {
      if (next_voice >= voice_frames || right != voice[next_voice] / 2) {
        Expect(false, "mix %d (%s): frame %zu right is %d, want half of voice sample %zu (%d)", cycle, ending_name,
               f, right, next_voice, next_voice < voice_frames ? voice[next_voice] : 0);
        return;
      }
      ++next_voice;
    }
  }
  // Every frame the engine counted as played is in the file, and no others.
  Expect(next_music == music_done.frames_played, "mix %d (%s): file holds %zu music frames, engine counted %" PRIu64,
         cycle, ending_name, next_music, music_done.frames_played);
  Expect(next_voice == voice_done.frames_played, "mix %d (%s): file holds %zu voice frames, engine counted %" PRIu64,
         cycle, ending_name, next_voice, voice_done.frames_played);
  // The wait policy must never invent samples: no frame is silent in both
  // channels while a stream had frames left to give.
  Expect(silent_frames == 0, "mix %d (%s): %zu all-silent frames in a wait-policy output of %zu frames", cycle,
         ending_name, silent_frames, written.size() / frame_bytes);
}

// 0.2 s through the clock sink with the silence policy: paced by the clock,
// and stopped by the idle timeout once the stream has played.
void ClockSinkRun() {
  PcmRequest request;
  request.pcm = "speakerd-clock";
  request.period_frames = 480;
  request.periods = 4;
  snd_pcm_t* pcm = nullptr;
  const int err = OpenClockSink(&pcm, request.pcm.c_str(), ClockSinkOptions{});
  if (err < 0) {
    Expect(false, "clock sink: OpenClockSink failed: %s", snd_strerror(err));
    return;
  }
  DeviceError error;
  std::unique_ptr<PcmDevice> device = PcmDevice::Adopt(pcm, request, &error);
  if (!device) {
    Expect(false, "clock sink: configure failed: %s %s", error.code.c_str(), error.message.c_str());
    return;
  }
  const PcmFormat format = device->format();
  const size_t frames = format.rate / 5;
  std::vector<uint8_t> samples(frames * format.frame_bytes);
  for (size_t i = 0; i < samples.size(); ++i) samples[i] = static_cast<uint8_t>(i * 7);

  PlaybackOptions options;
  options.policy = UnderrunPolicy::kSilence;
  options.idle_ms = 50;
  options.realtime = true;  // either granted or refused; both are logged
  PlaybackThread playback(std::move(device), options, [] {});
  playback.Start();
  auto stream = std::make_unique<StreamState>(7, frames, format.frame_bytes, 0.8f);
  Expect(stream->ring.Write(samples.data(), frames) == frames, "clock sink: ring refused frames");
  const auto started = Clock::now();
  Expect(playback.Attach(stream.get()) == PlaybackThread::AttachResult::kAttached, "clock sink: attach refused");
  stream->ended.store(true, std::memory_order_release);
  playback.ProducerProgress();
  const RetiredStream done = AwaitRetireAndFree(stream);
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (done.retired) {
    Expect(done.outcome == StreamOutcome::kPlayed, "clock sink: outcome %d, want played",
           static_cast<int>(done.outcome));
    Expect(done.frames_played == frames, "clock sink: %" PRIu64 " of %zu frames played", done.frames_played, frames);
    // Paced by CLOCK_MONOTONIC: 0.2 s of audio cannot be done much sooner
    // than 0.2 s minus the one buffer that is queued ahead of the clock.
    const double floor_s = (static_cast<double>(frames) - format.buffer_frames) / format.rate;
    Expect(seconds >= floor_s * 0.9, "clock sink: played %zu frames in %.3f s, faster than the clock", frames,
           seconds);
  }
  Expect(WaitFor([&] { return !playback.pcm_running(); }, std::chrono::seconds(5)),
         "clock sink: PCM still running %u ms after the last stream", options.idle_ms);
  playback.Stop();
  Expect(playback.frames_committed() >= frames, "clock sink: %" PRIu64 " frames committed, want >= %zu",
         playback.frames_committed(), frames);
  Expect(playback.realtime() != -1, "clock sink: SCHED_FIFO never tried");
  Expect(!playback.TakeLog().empty(), "clock sink: the SCHED_FIFO attempt was not logged");
  const DeviceError fatal = playback.fatal_error();
  Expect(fatal.ok(), "clock sink: playback failed: %s %s", fatal.code.c_str(), fatal.message.c_str());
  std::printf("engine_harness: clock sink played %zu frames in %.3f s (%" PRIu64 " xruns, realtime=%d)\n", frames,
              seconds, playback.xruns(), playback.realtime());
}

// Every failing open must report the documented code and leak nothing.
void ExpectOpenFails(const char* what, const PcmRequest& request, const char* code) {
  DeviceError error;
  std::unique_ptr<PcmDevice> device = PcmDevice::Open(request, &error);
  Expect(!device, "%s: open succeeded, want %s", what, code);
  Expect(error.code == code, "%s: error code \"%s\" (%s), want %s", what, error.code.c_str(), error.message.c_str(),
         code);
  Expect(error.errnum > 0, "%s: errnum %d, want a positive errno", what, error.errnum);
}

void FailingOpens(const std::string& scratch) {
  PcmRequest hw;
  hw.pcm = "hw:0,0";
  ExpectOpenFails("hw:0,0 without sound hardware", hw, "E_ALSA_OPEN");

  PcmRequest truncated = FileRequest(scratch + "/never.raw", kS16, 256);
  truncated.alsa_config = "pcm.out { type file slave.pcm null file ";
  ExpectOpenFails("unterminated config text", truncated, "E_ALSA_CONFIG");

  PcmRequest unbalanced = FileRequest(scratch + "/never.raw", kS16, 256);
  unbalanced.alsa_config = "pcm.out { type null } }";
  ExpectOpenFails("unbalanced config text", unbalanced, "E_ALSA_CONFIG");

  PcmRequest unknown_type = FileRequest(scratch + "/never.raw", kS16, 256);
  unknown_type.alsa_config = "pcm.out { type no_such_plugin }";
  ExpectOpenFails("unknown plugin type", unknown_type, "E_ALSA_OPEN");

  // A PCM that opens but refuses the parameters: the half-built device must
  // close its PCM. The clock sink takes 1 to 32 channels.
  PcmRequest too_wide;
  too_wide.pcm = "speakerd-clock";
  too_wide.channels = 33;
  snd_pcm_t* pcm = nullptr;
  if (OpenClockSink(&pcm, too_wide.pcm.c_str(), ClockSinkOptions{}) == 0) {
    DeviceError error;
    Expect(!PcmDevice::Adopt(pcm, too_wide, &error), "clock sink with 33 channels: configured, want E_ALSA_HW_PARAMS");
    Expect(error.code == "E_ALSA_HW_PARAMS", "clock sink with 33 channels: code \"%s\", want E_ALSA_HW_PARAMS",
           error.code.c_str());
  } else {
    Expect(false, "clock sink: OpenClockSink failed");
  }
}

// What the racer in a loss cycle saw, summed over the cycles.
struct LossTotals {
  uint64_t attached = 0;     // Attach said kAttached
  uint64_t played = 0;       // ... and the stream retired as played, before the fault
  uint64_t lost = 0;         // ... and the stream retired as device lost, by the fault
  uint64_t refused = 0;      // Attach said kDeviceFailed
  uint64_t full = 0;         // Attach said kFull
  uint64_t main_frames = 0;  // frames the main streams counted before their faults
};

// Device loss, for real: a speakerd_fault PCM over a file PCM that fails once
// `fail_at` frames have passed, with an errno in even cycles and as a kernel
// disconnect (state DISCONNECTED, POLLERR, no errno) in odd ones. One stream writes more than that; meanwhile a
// second thread keeps attaching fresh streams until Attach answers
// kDeviceFailed, so that Attach races the playback thread's fatal RetireAll.
// Every stream Attach took must be retired exactly once (then it is freed at
// once, so a later touch is a use-after-free); every stream it refused must
// never have been handed back, and is freed at once too.
void LossCycle(int cycle, const std::string& scratch, std::mt19937& rng, LossTotals* totals) {
  const std::string path = scratch + "/loss.raw";
  const SampleCodec& codec = cycle % 2 == 0 ? kS16 : kS24_3;
  const unsigned period_request = cycle % 3 == 0 ? 64 : 256;
  const int64_t fail_at = 2000 + static_cast<int64_t>(rng() % 6000);
  PcmRequest request = FileRequest(path, codec, period_request);
  const bool disconnect = cycle % 2 == 1;
  // One definition per mode: fail_times is left unset, so every instance fails.
  request.pcm = disconnect ? "flaky_disconnect" : "flaky";
  request.alsa_config = FilePcmConfig("flaky_out", path) + "\npcm." + request.pcm +
                        " { type speakerd_fault slave.pcm \"flaky_out\" fail_at_frame " + std::to_string(fail_at) +
                        (disconnect ? " fail_mode disconnect }" : " fail_errno ENODEV }");
  DeviceError error;
  std::unique_ptr<PcmDevice> device = PcmDevice::Open(request, &error);
  if (!device) {
    Expect(false, "loss %d: open failed: %s %s", cycle, error.code.c_str(), error.message.c_str());
    return;
  }
  const size_t frame_bytes = device->format().frame_bytes;
  const size_t period = device->format().period_frames;
  const size_t buffer = device->format().buffer_frames;

  // Declared before the thread, so that streams not retired (a failed
  // expectation) outlive it.
  auto main_stream = std::make_unique<StreamState>(1, period * 2 + rng() % 512, frame_bytes, 1.0f);
  std::vector<std::unique_ptr<StreamState>> racer_streams;  // the racer's until it is joined
  // More than the fault frame plus everything the ring and the device can
  // hold: the main stream cannot finish before the fault.
  const size_t frames = static_cast<size_t>(fail_at) + main_stream->ring.capacity() + buffer + 1000;
  std::vector<std::unique_ptr<StreamState>> fillers(PlaybackThread::kMaxStreams - 9 - rng() % 8);
  for (size_t i = 0; i < fillers.size(); ++i) {
    fillers[i] = std::make_unique<StreamState>(static_cast<uint32_t>(10 + i), frames, frame_bytes, 0.0f);
  }
  const std::vector<uint8_t> silence(frames * frame_bytes, 0);
  std::vector<uint8_t> samples(frames * frame_bytes);
  std::uniform_int_distribution<int32_t> sample(-codec.max - 1, codec.max);
  for (size_t i = 0; i < frames * 2; ++i) codec.Put(&samples[i * codec.bytes], sample(rng));

  std::atomic<uint64_t> notifications{0};
  auto playback = std::make_unique<PlaybackThread>(std::move(device), WaitPolicy(), [&] { notifications.fetch_add(1); });
  playback->Start();
  Expect(playback->Attach(main_stream.get()) == PlaybackThread::AttachResult::kAttached, "loss %d: attach refused",
         cycle);
  // Silent fillers in most slots: Attach then scans past them before it finds
  // a free slot, which widens the window in which the fault can come between
  // Attach's first look at failed() and its look after taking a slot. Each
  // holds more (zero) frames than the main stream writes and has ended, so
  // none holds the mix back; at gain 0 they leave the main stream's samples
  // exact.
  for (auto& filler : fillers) {
    filler->ring.Write(silence.data(), frames);
    filler->ended.store(true, std::memory_order_release);
    Expect(playback->Attach(filler.get()) == PlaybackThread::AttachResult::kAttached, "loss %d: filler %u refused",
           cycle, filler->id);
  }

  LossTotals seen;
  std::thread racer([&, seed = rng()] {
    std::mt19937 racer_rng(seed);
    uint32_t next_id = 100;
    // Frees what has retired, as the JS side does when it sees the done bit.
    auto reap = [&](bool wait) {
      for (auto& stream : racer_streams) {
        if (!stream) continue;
        if (!wait && (stream->events.load(std::memory_order_acquire) & kStreamDone) == 0) continue;
        const RetiredStream done = AwaitRetireAndFree(stream);
        if (!done.retired) continue;
        if (done.outcome == StreamOutcome::kPlayed) {
          ++seen.played;
        } else if (done.outcome == StreamOutcome::kDeviceLost) {
          ++seen.lost;
        } else {
          Expect(false, "loss %d: racer stream retired with outcome %d, want played or device lost", cycle,
                 static_cast<int>(done.outcome));
        }
        Expect(done.frames_played == 0, "loss %d: an empty racer stream played %" PRIu64 " frames", cycle,
               done.frames_played);
      }
      racer_streams.erase(std::remove(racer_streams.begin(), racer_streams.end(), nullptr), racer_streams.end());
    };
    const auto deadline = Clock::now() + kRetireTimeout;
    while (true) {
      if (Clock::now() > deadline) {
        Expect(false, "loss %d: Attach did not refuse a stream within %d s", cycle,
               static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(kRetireTimeout).count()));
        break;
      }
      // Empty and ended: such a stream never holds the mix back (the wait
      // policy waits for buffering streams that have not ended) and retires
      // as played within two passes, unless the fault retires it first.
      auto stream = std::make_unique<StreamState>(next_id++, 64, frame_bytes, 1.0f);
      stream->ended.store(true, std::memory_order_release);
      const PlaybackThread::AttachResult result = playback->Attach(stream.get());
      if (result == PlaybackThread::AttachResult::kDeviceFailed) {
        ++seen.refused;
        // Not handed back: the thread never retired it, nor counted frames.
        // (Its phase may have moved on: a pass that ran just before the fault
        // can have seen it in its slot before Attach withdrew it.)
        Expect(stream->events.load() == 0, "loss %d: refused stream has events %#x", cycle, stream->events.load());
        Expect(stream->outcome.load() == static_cast<int>(StreamOutcome::kNone),
               "loss %d: refused stream has outcome %d", cycle, stream->outcome.load());
        Expect(stream->frames_played.load() == 0 && stream->first_commit_ns.load() == 0,
               "loss %d: refused stream has %" PRIu64 " frames played", cycle, stream->frames_played.load());
        stream.reset();
        break;
      }
      if (result == PlaybackThread::AttachResult::kFull) {
        ++seen.full;
        stream.reset();
        std::this_thread::yield();  // the racer's own streams fill the slots the fillers left: let them retire
      } else {
        ++seen.attached;
        racer_streams.push_back(std::move(stream));
      }
      // At ease while the fault is far off; back to back once it is due
      // within a buffer or two, so that attempts are under way when it comes.
      if (playback->frames_committed() + 2 * buffer < static_cast<uint64_t>(fail_at)) {
        reap(false);
        std::this_thread::sleep_for(std::chrono::microseconds(racer_rng() % 50));
      } else if (racer_rng() % 16 == 0) {
        reap(false);
      }
    }
    // Sticky: once failed, the device refuses every stream.
    StreamState late(99, 64, frame_bytes, 1.0f);
    Expect(playback->Attach(&late) == PlaybackThread::AttachResult::kDeviceFailed,
           "loss %d: a stream attached after the refusal was not refused", cycle);
    reap(true);
  });

  // The main stream's producer: random chunks until everything is written
  // or the stream is retired, which the fault does.
  std::uniform_int_distribution<size_t> chunk(1, 700);
  size_t written = 0;
  const auto deadline = Clock::now() + kProducerTimeout;
  while (written < frames && (main_stream->events.load(std::memory_order_acquire) & kStreamDone) == 0) {
    const size_t n = main_stream->ring.Write(samples.data() + written * frame_bytes, std::min(chunk(rng), frames - written));
    written += n;
    playback->ProducerProgress();
    if (n == 0) {
      if (Clock::now() > deadline) {
        Expect(false, "loss %d: producer stalled at %zu of %zu frames, fault due at %" PRId64, cycle, written, frames,
               fail_at);
        main_stream->aborted.store(true, std::memory_order_release);
        playback->ProducerProgress();
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
  if (written == frames) {
    main_stream->ended.store(true, std::memory_order_release);
    playback->ProducerProgress();
  }
  const RetiredStream main_done = AwaitRetireAndFree(main_stream);
  for (auto& filler : fillers) {
    const RetiredStream done = AwaitRetireAndFree(filler);
    Expect(!done.retired || done.outcome == StreamOutcome::kDeviceLost, "loss %d: filler outcome %d, want device lost",
           cycle, static_cast<int>(done.outcome));
  }
  racer.join();

  if (main_done.retired) {
    Expect(main_done.outcome == StreamOutcome::kDeviceLost, "loss %d: main stream outcome %d, want device lost", cycle,
           static_cast<int>(main_done.outcome));
    // A disconnected card takes what fits in its buffer and never plays it.
    const uint64_t most = static_cast<uint64_t>(fail_at) + (disconnect ? buffer : 0);
    Expect(main_done.frames_played > 0 && main_done.frames_played <= most,
           "loss %d: main stream counted %" PRIu64 " frames, want 1..%" PRIu64, cycle, main_done.frames_played, most);
  }
  Expect(playback->failed(), "loss %d: failed() is false after the fault", cycle);
  const DeviceError fatal = playback->fatal_error();
  Expect(fatal.code == "E_DEVICE_LOST" && fatal.errnum == 19, "loss %d: fatal error %s errno %d, want E_DEVICE_LOST 19",
         cycle, fatal.code.c_str(), fatal.errnum);
  const std::string disconnected = "PCM \"flaky_disconnect\": disconnected (the card was unplugged or its driver unbound), seen at ";
  Expect(disconnect ? fatal.message == disconnected + "mmap_commit: No such device" || fatal.message == disconnected + "poll: No such device"
                    : fatal.message == "PCM \"flaky\": mmap_commit failed: No such device",
         "loss %d: fatal message \"%s\"", cycle, fatal.message.c_str());
  // The streams are retired before the error is raised: it may come a moment after.
  uint32_t device_events = 0;
  Expect(WaitFor([&] { return ((device_events |= playback->TakeDeviceEvents()) & kDeviceError) != 0; }, kRetireTimeout),
         "loss %d: no device error event", cycle);
  Expect(!playback->pcm_running(), "loss %d: PCM still marked running after the fault", cycle);
  Expect(notifications.load() > 0, "loss %d: notify never called", cycle);
  Expect(racer_streams.empty(), "loss %d: %zu racer streams never retired", cycle, racer_streams.size());
  playback->Stop();
  playback.reset();  // closes the fault PCM and its file slave

  const std::vector<uint8_t> file = ReadWholeFile(path);
  const size_t want = static_cast<size_t>(fail_at) * frame_bytes;
  Expect(file.size() == want && std::equal(file.begin(), file.end(), samples.begin()),
         "loss %d (%s): file has %zu bytes, want exactly the first %" PRId64 " frames (%zu bytes) of the main stream%s",
         cycle, snd_pcm_format_name(codec.format), file.size(), fail_at, want,
         file.size() == want ? " (the length is right, the content is not)" : "");

  totals->attached += seen.attached;
  totals->played += seen.played;
  totals->lost += seen.lost;
  totals->refused += seen.refused;
  totals->full += seen.full;
  totals->main_frames += main_done.frames_played;
}

void RemoveScratch(const std::string& dir) {
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* entry = readdir(d)) {
      if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0) {
        unlink((dir + "/" + entry->d_name).c_str());
      }
    }
    closedir(d);
  }
  rmdir(dir.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  const int cycles = argc > 1 ? std::atoi(argv[1]) : 200;
  const char* config_dir = std::getenv("ALSA_CONFIG_DIR");
  if (config_dir == nullptr || access((std::string(config_dir) + "/alsa.conf").c_str(), R_OK) != 0) {
    std::fprintf(stderr, "engine_harness: set ALSA_CONFIG_DIR to deps/alsa-lib/share/alsa\n");
    return 2;
  }
  InstallAlsaLogHandler();
  char scratch_template[] = "/tmp/speakerd-harness-XXXXXX";
  const char* scratch_dir = mkdtemp(scratch_template);
  if (scratch_dir == nullptr) {
    std::perror("engine_harness: mkdtemp");
    return 2;
  }
  const std::string scratch = scratch_dir;
  const auto started = Clock::now();
  std::mt19937 rng(20240601);

  for (int cycle = 0; cycle < cycles; ++cycle) {
    const std::string path = scratch + "/cycle.raw";
    switch (cycle % 8) {
      case 0:
      case 4: SoloCycle(cycle, path, rng); break;
      case 3: MixCycle(cycle, path, rng, MixEnding::kStopMidStream); break;
      case 7: MixCycle(cycle, path, rng, MixEnding::kDestroyMidStream); break;
      default: MixCycle(cycle, path, rng, MixEnding::kEndAndAbort); break;
    }
  }
  // A loss cycle for every ten ordinary ones: 20 by default.
  const int loss_cycles = std::max(1, cycles / 10);
  LossTotals loss;
  for (int cycle = 0; cycle < loss_cycles; ++cycle) LossCycle(cycle, scratch, rng, &loss);
  std::printf("engine_harness: %d loss cycles: racer streams attached=%" PRIu64 " (played %" PRIu64 ", lost %" PRIu64
              ") refused=%" PRIu64 " full=%" PRIu64 "; main streams counted %" PRIu64 " frames before their faults\n",
              loss_cycles, loss.attached, loss.played, loss.lost, loss.refused, loss.full, loss.main_frames);
  ClockSinkRun();
  FailingOpens(scratch);

  RemoveScratch(scratch);
  // Frees alsa-lib's cached global configuration, so that whatever is left
  // at exit is a leak of ours (or of alsa-lib's), not a cache.
  snd_config_update_free_global();

  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf("engine_harness: cycles=%d checks=%d failed=%d in %.2f s\n", cycles, g_checks.load(), g_failures.load(),
              seconds);
  return g_failures == 0 ? 0 : 1;
}
