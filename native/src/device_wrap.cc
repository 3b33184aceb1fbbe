#include "device_wrap.h"

#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <thread>
#include <map>

#include "alsa_log.h"
#include "clock_sink.h"
#include "decode_thread.h"
#include "js_audio_format.h"
#include "js_errors.h"
#include "loop_wake.h"
#include "playback_thread.h"
#include "realtime.h"
#include "stream_input.h"
#include "turn_end_wakes.h"

namespace speakerd {
namespace {

struct AddonData {
  Napi::FunctionReference device_constructor;
  Napi::FunctionReference stream_constructor;
  TurnEndWakes* turn_end_wakes = nullptr;  // frees itself with the env; null if libuv refused it
};

// A batch of events for the JS dispatcher, each [type, streamId, detail].
class EventBatch {
 public:
  explicit EventBatch(Napi::Env env) : env_(env), events_(Napi::Array::New(env)) {}
  void Add(const char* type, uint32_t stream_id, Napi::Value detail) {
    Napi::Array event = Napi::Array::New(env_, 3);
    event.Set(0u, type);
    event.Set(1u, stream_id);
    event.Set(2u, detail);
    events_.Set(count_++, event);
  }
  bool empty() const { return count_ == 0; }
  Napi::Array value() const { return events_; }

 private:
  Napi::Env env_;
  Napi::Array events_;
  uint32_t count_ = 0;
};

// What an open produced: a configured PCM or the reason it failed.
struct OpenResult {
  std::unique_ptr<PcmDevice> device;
  PlaybackOptions options;
  DeviceError error;
};

// About 1.4 s of 48 kHz stereo S16: far more than any pause of the JS thread,
// and small enough that MAX_STREAMS=8 rings fit the 80 MiB peak-RSS target
// (docs/decisions.md, "Ring size").
constexpr size_t kDefaultRingBytes = 1 << 18;

// A compressed body's bytes between JS and the decode thread: about 16 s of
// 128 kb/s MP3 or 1.5 s of CD-quality FLAC, the same size as the stream
// ring. At 64 KiB a FLAC upload cost the JS thread twice what its WAV did,
// in waits for 'drain'.
constexpr size_t kDefaultInputBytes = 1 << 18;

// How soon a done stream whose decode thread has not ended yet is looked
// at again. The thread has finished decoding and only has to return.
constexpr uint64_t kRecheckStreamsMs = 1;

// A stream's counters at one moment, as Stream.stats() reports them.
struct StreamCounters {
  uint32_t id = 0;
  uint64_t frames_played = 0;
  uint32_t underruns = 0;
  size_t buffered_frames = 0;
  size_t capacity_frames = 0;
  int64_t first_write_ns = 0;
  int64_t first_commit_ns = 0;
  StreamPhase phase = StreamPhase::kBuffering;
  bool ducked = false;
  bool paused = false;
  float level = 1.0f;
  int64_t ducked_ns = 0;
  int64_t paused_ns = 0;
  int64_t start_ns = 0;  // a timed stream's, CLOCK_MONOTONIC
  uint64_t frames_skipped = 0;
  double sync_error_ns = 0;

  static StreamCounters Of(const StreamState& state) {
    StreamCounters c;
    c.id = state.id;
    c.frames_played = state.frames_played.load(std::memory_order_relaxed);
    c.underruns = state.underruns.load(std::memory_order_relaxed);
    c.buffered_frames = state.ring.Fill();
    c.capacity_frames = state.ring.capacity();
    c.first_write_ns = state.first_write_ns.load(std::memory_order_relaxed);
    c.first_commit_ns = state.first_commit_ns.load(std::memory_order_relaxed);
    c.phase = state.Phase();
    // Odd counts: ducked, paused (stream_state.h).
    c.ducked = (state.duck_flips.load(std::memory_order_relaxed) & 1) != 0;
    c.paused = (state.pause_flips.load(std::memory_order_relaxed) & 1) != 0;
    c.level = state.current_level.load(std::memory_order_relaxed);
    c.ducked_ns = state.ducked_ns.load(std::memory_order_relaxed);
    c.paused_ns = state.paused_ns.load(std::memory_order_relaxed);
    c.start_ns = state.start_ns.load(std::memory_order_relaxed);
    c.frames_skipped = state.frames_skipped.load(std::memory_order_relaxed);
    c.sync_error_ns = state.sync_error_ns.load(std::memory_order_relaxed);
    return c;
  }
};

class StreamWrap : public Napi::ObjectWrap<StreamWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Stream",
                       {InstanceMethod<&StreamWrap::SetInputFormat>("setInputFormat"),
                        InstanceMethod<&StreamWrap::SetInputCodec>("setInputCodec"),
                        InstanceMethod<&StreamWrap::QueuedFrames>("queuedFrames"),
                        InstanceMethod<&StreamWrap::Write>("write"), InstanceMethod<&StreamWrap::End>("end"),
                        InstanceMethod<&StreamWrap::Abort>("abort"), InstanceMethod<&StreamWrap::Stats>("stats"),
                        InstanceMethod<&StreamWrap::SetGain>("setGain"),
                        InstanceMethod<&StreamWrap::SetPaused>("setPaused"), InstanceMethod<&StreamWrap::Cut>("cut"),
                        InstanceMethod<&StreamWrap::FadeTail>("fadeTail")});
  }

  explicit StreamWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<StreamWrap>(info) {}

  void Bind(std::shared_ptr<StreamState> state, PlaybackThread* playback, TurnEndWakes* wakes, Napi::Object device,
            const AudioFormat& device_format) {
    state_ = std::move(state);
    device_format_ = device_format;
    // A timed stream is kept on the wall clock by steering its resampler.
    std::unique_ptr<ClockLock> lock;
    if (state_->timed()) lock = std::make_unique<ClockLock>(state_.get(), &playback->clock(), device_format.rate);
    input_ = std::make_unique<StreamInput>(&state_->ring, device_format, std::move(lock));
    playback_ = playback;
    wakes_ = wakes;
    device_ = Napi::Persistent(device);
  }

  // Called by the device as it starts closing: writes are refused from here.
  // A decode thread is joined here (it is at most finishing a packet): it
  // calls into the playback thread, which the device is about to stop.
  void StopProducing() {
    playback_ = nullptr;
    if (decoder_) decoder_->Join();
  }

  // A compressed stream's decode, for its result: waits for the decode
  // thread to stop (the stream is retired or its device closed, so it is
  // at most finishing a packet). Null for a PCM stream.
  Napi::Value TakeDecodeSummary(Napi::Env env) {
    if (!decoder_) return env.Undefined();
    decoder_->Join();
    const DecodeSummary summary = decoder_->Summary();
    decoder_.reset();
    return DescribeDecode(env, summary);
  }

  // For a stream that is done: whether its producer has let go of it. A PCM
  // stream's (the JS thread) always has; a compressed stream's decode thread
  // once it has ended, which it is told to (it may wait for room that a
  // lost device will never make). Never waits.
  bool ProducerGone() {
    if (!decoder_) return true;
    decoder_->Stop();
    return decoder_->TryJoin();
  }

  // Called by the device when the stream is done or the device has closed. The
  // ring is freed here, not when the JS object is collected: V8 does not see
  // native memory, so memory stays bounded by the streams that play.
  void Detach() {
    if (state_) final_ = StreamCounters::Of(*state_);
    decoder_.reset();  // joins the decode thread, which writes into the ring
    input_.reset();    // before the ring it writes into
    state_.reset();
    playback_ = nullptr;
    device_.Reset();
  }

 private:
  // setInputFormat({ format, rate, channels, quality? }), before the first
  // write: frames in any other format than the device's are converted on
  // their way into the ring. Returns the input's frame size in bytes.
  Napi::Value SetInputFormat(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) throw MakeTypeError(env, "E_INVALID_ARG", "setInputFormat() takes { format, rate, channels }");
    if (!input_) throw MakeTypeError(env, "E_STREAM_DONE", "the stream is done");
    if (state_->first_write_ns.load(std::memory_order_relaxed) != 0) {
      throw MakeTypeError(env, "E_INVALID_STATE", "setInputFormat() after the first write");
    }
    Napi::Object options = info[0].As<Napi::Object>();
    const AudioFormat from = ReadAudioFormat(env, options, "the input format", "input");
    DeviceError error;
    if (!input_->SetFormat(from, ReadQuality(env, options), &error)) throw ConverterError(env, error);
    return Napi::Number::New(env, static_cast<double>(input_->input_frame_bytes()));
  }

  // setInputCodec({ codec, maxSeconds, quality?, inputBytes? }), before the
  // first write: the body is compressed. From here write() takes any bytes
  // of it (returning how many it took), and a decode thread of the stream's
  // own plays them (decode_thread.h). Audio past maxSeconds is not played.
  void SetInputCodec(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) throw MakeTypeError(env, "E_INVALID_ARG", "setInputCodec() takes { codec, maxSeconds }");
    if (!input_) throw MakeTypeError(env, "E_STREAM_DONE", "the stream is done");
    if (state_->first_write_ns.load(std::memory_order_relaxed) != 0 || decoder_) {
      throw MakeTypeError(env, "E_INVALID_STATE", "setInputCodec() after the first write");
    }
    if (playback_ == nullptr) throw MakeTypeError(env, "E_STREAM_DONE", "the device is closing");
    Napi::Object options = info[0].As<Napi::Object>();
    DecodeThread::Options decode;
    const std::string codec = options.Get("codec").ToString();
    if (!ParseCodec(codec, &decode.codec)) throw MakeTypeError(env, "E_INVALID_ARG", "unknown codec: " + codec);
    const Napi::Value max_seconds = options.Get("maxSeconds");
    if (!max_seconds.IsNumber() || !(max_seconds.As<Napi::Number>().DoubleValue() > 0)) {
      throw MakeTypeError(env, "E_INVALID_ARG", "maxSeconds must be a positive number");
    }
    decode.max_seconds = max_seconds.As<Napi::Number>().DoubleValue();
    decode.quality = ReadQuality(env, options);
    decode.input_bytes = kDefaultInputBytes;
    if (options.Has("inputBytes")) decode.input_bytes = options.Get("inputBytes").As<Napi::Number>().Int64Value();
    decode.input_bytes = std::max<size_t>(decode.input_bytes, 64);
    decode.device_rate = device_format_.rate;
    decode.device_format = device_format_.format;
    decoder_ = std::make_unique<DecodeThread>(state_, std::move(input_), playback_, decode);
  }

  // queuedFrames(): a compressed stream's audio decoded into its ring so
  // far, in device frames (its progress; the body's bytes are not).
  Napi::Value QueuedFrames(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), decoder_ ? static_cast<double>(decoder_->queued_frames()) : 0.0);
  }

  static Napi::Value DescribeDecode(Napi::Env env, const DecodeSummary& summary) {
    Napi::Object out = Napi::Object::New(env);
    out.Set("codec", CodecName(summary.codec));
    if (summary.format_known) {
      Napi::Object format = Napi::Object::New(env);
      format.Set("format", snd_pcm_format_name(summary.format.format));
      format.Set("rate", summary.format.rate);
      format.Set("channels", summary.format.channels);
      out.Set("format", format);
    } else {
      out.Set("format", env.Null());
    }
    out.Set("frames", static_cast<double>(summary.frames));
    out.Set("decodeErrors", static_cast<double>(summary.report.decode_errors));
    out.Set("truncated", summary.report.truncated);
    out.Set("tooLong", summary.too_long);
    if (summary.report.error.ok()) {
      out.Set("error", env.Null());
    } else {
      Napi::Object error = Napi::Object::New(env);
      error.Set("code", summary.report.error.code);
      error.Set("message", summary.report.error.message);
      out.Set("error", error);
    }
    return out;
  }

  // write(chunk): takes whole input frames, converted into the ring, as many
  // as fit; returns how many. Never blocks. A compressed stream takes bytes.
  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray()) throw MakeTypeError(env, "E_INVALID_ARG", "write() takes a Buffer or Uint8Array");
    Napi::TypedArray array = info[0].As<Napi::TypedArray>();
    const size_t bytes = array.ByteLength();
    if (decoder_) return WriteCompressed(env, array);
    if (!input_) return Napi::Number::New(env, 0);  // detached: the stream is done
    const size_t frame_bytes = input_->input_frame_bytes();
    if (bytes % frame_bytes != 0) {
      throw MakeTypeError(env, "E_PARTIAL_FRAME",
                          "write() takes whole frames of " + std::to_string(frame_bytes) + " bytes; got " +
                              std::to_string(bytes) + " bytes");
    }
    if (playback_ == nullptr || state_->ended.load() || state_->aborted.load()) return Napi::Number::New(env, 0);
    const uint8_t* data = static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
    const size_t frames = bytes / frame_bytes;
    if (frames > 0 && state_->first_write_ns.load(std::memory_order_relaxed) == 0) {
      state_->first_write_ns.store(MonotonicNowNs(), std::memory_order_relaxed);
    }
    const size_t written = input_->Write(data, frames);
    // Announce the short write before waking the thread, so that it sees the
    // request when it next consumes.
    if (written < frames) state_->wants_drain.store(true, std::memory_order_seq_cst);
    WakePlayback(written < frames);
    return Napi::Number::New(env, static_cast<double>(written));
  }

  Napi::Value WriteCompressed(Napi::Env env, Napi::TypedArray array) {
    if (playback_ == nullptr || state_->ended.load() || state_->aborted.load()) return Napi::Number::New(env, 0);
    if (state_->first_write_ns.load(std::memory_order_relaxed) == 0) {
      state_->first_write_ns.store(MonotonicNowNs(), std::memory_order_relaxed);
    }
    const uint8_t* data = static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
    return Napi::Number::New(env, static_cast<double>(decoder_->Write(data, array.ByteLength())));
  }

  // A producer about to wait for room, or a ring at least half full, wakes
  // the thread now: it must not wait for the turn to end, and the thread
  // then empties the ring while JS reads on. Anything less is woken once at
  // the end of the event loop's turn (turn_end_wakes.h).
  void WakePlayback(bool producer_blocked) {
    if (producer_blocked || wakes_ == nullptr || state_->ring.Fill() >= state_->ring.capacity() / 2) {
      playback_->ProducerProgress();
      return;
    }
    playback_->NoteProgress();
    wakes_->Add(playback_);
  }

  // end(): no more input. True once the converter's tail is in the ring and
  // the stream is marked ended; false when the ring is full: call again on
  // 'drain'.
  Napi::Value End(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (playback_ == nullptr) return Napi::Boolean::New(env, true);
    if (decoder_) {
      decoder_->EndInput();  // the decode thread ends the stream once all is decoded
      return Napi::Boolean::New(env, true);
    }
    if (!input_->Finish()) {
      state_->wants_drain.store(true, std::memory_order_seq_cst);
      playback_->ProducerProgress();
      return Napi::Boolean::New(env, false);
    }
    state_->ended.store(true, std::memory_order_release);
    playback_->ProducerProgress();
    return Napi::Boolean::New(env, true);
  }

  void Abort(const Napi::CallbackInfo&) {
    if (playback_ == nullptr) return;
    state_->aborted.store(true, std::memory_order_release);
    if (decoder_) decoder_->Stop();
    playback_->ProducerProgress();
  }

  void SetGain(const Napi::CallbackInfo& info) {
    if (!state_) return;
    state_->gain.store(info[0].As<Napi::Number>().FloatValue(), std::memory_order_relaxed);
    if (playback_ != nullptr) playback_->ProducerProgress();
  }

  // setPaused(bool): fades out and holds the stream where it is, or fades
  // it back in from there.
  void SetPaused(const Napi::CallbackInfo& info) {
    if (!state_) return;
    state_->paused.store(info[0].ToBoolean().Value(), std::memory_order_release);
    if (playback_ != nullptr) playback_->ProducerProgress();
  }

  // cut(): stops after a fade over what the ring holds; 'done' follows with
  // outcome "aborted". No more input is taken.
  void Cut(const Napi::CallbackInfo&) {
    if (playback_ == nullptr) return;
    state_->cut.store(true, std::memory_order_release);
    if (decoder_) decoder_->Stop();
    playback_->ProducerProgress();
  }

  // fadeTail(): for a stream to be cut at a length cap, before its last
  // frames are written: they fade out at end() instead of stopping on a click.
  void FadeTail(const Napi::CallbackInfo&) {
    if (state_) state_->fade_tail.store(true, std::memory_order_relaxed);  // published by end()
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const StreamCounters c = state_ ? StreamCounters::Of(*state_) : final_;
    Napi::Object out = Napi::Object::New(env);
    out.Set("id", c.id);
    out.Set("framesPlayed", static_cast<double>(c.frames_played));
    out.Set("underruns", c.underruns);
    out.Set("bufferedFrames", static_cast<double>(c.buffered_frames));
    out.Set("capacityFrames", static_cast<double>(c.capacity_frames));
    out.Set("firstWriteNs", static_cast<double>(c.first_write_ns));
    out.Set("firstCommitNs", static_cast<double>(c.first_commit_ns));
    static const char* const kPhases[] = {"buffering", "playing", "finishing", "retired"};
    out.Set("phase", kPhases[static_cast<int>(c.phase)]);
    out.Set("ducked", c.ducked);
    out.Set("paused", c.paused);
    out.Set("level", c.level);
    out.Set("duckedMs", static_cast<double>(c.ducked_ns) / 1e6);
    out.Set("pausedMs", static_cast<double>(c.paused_ns) / 1e6);
    // A timed stream's first frame at the DAC, by the wall clock (Unix ms).
    out.Set("startAtMs", c.start_ns == 0 ? env.Null()
                                         : Napi::Number::New(env, static_cast<double>(c.start_ns + RealtimeOffsetNs()) / 1e6));
    out.Set("framesSkipped", static_cast<double>(c.frames_skipped));
    // How much later than its content's time the last frame converted plays (clock_lock.h).
    out.Set("syncErrorUs", c.start_ns == 0 ? env.Null() : Napi::Number::New(env, c.sync_error_ns / 1000));
    if (decoder_) out.Set("decode", DescribeDecode(env, decoder_->Summary()));
    return out;
  }

  std::shared_ptr<StreamState> state_;
  std::unique_ptr<StreamInput> input_;  // the JS thread's end of state_->ring, for PCM
  std::unique_ptr<DecodeThread> decoder_;  // a compressed stream's producer, which then owns the input
  AudioFormat device_format_{};
  StreamCounters final_;
  PlaybackThread* playback_ = nullptr;
  TurnEndWakes* wakes_ = nullptr;
  Napi::ObjectReference device_;  // keeps the device alive while the stream plays
};

class DeviceWrap : public Napi::ObjectWrap<DeviceWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Device",
                       {InstanceAccessor<&DeviceWrap::Info>("info"),
                        InstanceMethod<&DeviceWrap::CreateStream>("createStream"),
                        InstanceMethod<&DeviceWrap::SetMasterGain>("setMasterGain"),
                        InstanceMethod<&DeviceWrap::Stats>("stats"), InstanceMethod<&DeviceWrap::Close>("close")});
  }

  // Arguments: External<OpenResult>, dispatch function.
  explicit DeviceWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceWrap>(info) {
    Napi::Env env = info.Env();
    OpenResult* result = info[0].As<Napi::External<OpenResult>>().Data();
    const PcmFormat format = result->device->format();
    info_ = Napi::Persistent(DescribeFormat(env, *result->device));
    frame_bytes_ = format.frame_bytes;
    default_ring_frames_ = std::max<size_t>(kDefaultRingBytes / frame_bytes_, format.buffer_frames * 2);
    period_frames_ = format.period_frames;
    stream_format_ = AudioFormat{format.format, format.rate, format.channels};
    dispatch_ = Napi::Persistent(info[1].As<Napi::Function>());
    dispatch_context_ = std::make_unique<Napi::AsyncContext>(env, "speakerd playback events");
    events_ = LoopWake::Create(env, [this] { Deliver(Env()); });
    if (events_ == nullptr) throw Napi::Error::New(env, "libuv refused the device's event wake-up");
    wakes_ = env.GetInstanceData<AddonData>()->turn_end_wakes;
    playback_ = std::make_unique<PlaybackThread>(std::move(result->device), result->options,
                                                 [events = events_] { events->Send(); });
    self_ = Napi::Persistent(info.This().As<Napi::Object>());
    cleanup_ = env.AddCleanupHook(std::function<void()>([this] { Shutdown(); }));
    playback_->Start();
  }

  ~DeviceWrap() override { Shutdown(); }

  // Called on the JS thread by the event wake-up: collects every pending
  // event and hands them to the JS dispatcher as [type, streamId, detail].
  void Deliver(Napi::Env env) {
    if (playback_ == nullptr) return;
    try {
      DeliverPending(env);
    } catch (const Napi::Error& error) {
      // A dispatcher that threw is a bug to be seen, as an uncaught
      // exception. Without a value, JS cannot run any more (the env is being
      // torn down, e.g. a worker terminated): the cleanup hook stops the
      // device.
      const Napi::Value value = error.Value();
      if (!value.IsEmpty() && !value.IsUndefined()) napi_fatal_exception(env, value);
    }
  }

 private:
  void DeliverPending(Napi::Env env) {
    EventBatch batch(env);
    uint32_t device_events = playback_->TakeDeviceEvents();
    if (recheck_streams_) device_events |= kDeviceStreams;
    recheck_streams_ = false;
    if (device_events & kDeviceLog) {
      for (std::string& line : playback_->TakeLog()) batch.Add("log", 0, Napi::String::New(env, line));
    }
    if (device_events & kDeviceXrun) batch.Add("xrun", 0, Napi::Number::New(env, static_cast<double>(playback_->xruns())));
    if (device_events & kDeviceStreams) {
      for (auto it = streams_.begin(); it != streams_.end();) {
        StreamState* state = it->second.state.get();
        const uint32_t bits = state->events.exchange(0, std::memory_order_acq_rel);
        if (bits & kStreamStarted) batch.Add("started", state->id, env.Undefined());
        if (bits & kStreamLevel) {
          Napi::Object flips = Napi::Object::New(env);
          flips.Set("duckFlips", state->duck_flips.load(std::memory_order_relaxed));
          flips.Set("pauseFlips", state->pause_flips.load(std::memory_order_relaxed));
          batch.Add("level", state->id, flips);
        }
        if (bits & kStreamUnderrun) batch.Add("underrun", state->id, Napi::Number::New(env, state->underruns.load()));
        if (bits & kStreamDrain) batch.Add("drain", state->id, env.Undefined());
        if ((bits & kStreamDone) && !it->second.wrap->ProducerGone()) {
          // Its decode thread is still on its way out: 'done' (and the
          // decode summary) once it has gone, rather than wait for it here.
          state->events.fetch_or(kStreamDone, std::memory_order_acq_rel);
          recheck_streams_ = true;
          ++it;
        } else if (bits & kStreamDone) {
          Napi::Object summary = Summary(env, *state);
          summary.Set("decode", it->second.wrap->TakeDecodeSummary(env));
          batch.Add("done", state->id, summary);
          it->second.wrap->Detach();
          it = streams_.erase(it);
        } else {
          ++it;
        }
      }
    }
    // A fatal error is raised before its streams are retired. A stream found
    // done above may have been retired after the take at the top (woken by an
    // earlier event, such as its 'started'): its error is taken now, so that
    // it comes in this batch. Otherwise the device, with no stream left,
    // stops holding the loop open and the process may exit before the error.
    device_events |= playback_->TakeDeviceEvents(kDeviceError);
    if (device_events & kDeviceError) batch.Add("error", 0, MakeError(env, playback_->fatal_error()).Value());
    if (recheck_streams_) events_->SendLater(kRecheckStreamsMs);
    UpdateRef(env);
    // As a callback from the loop: process.nextTick and promise jobs queued
    // by the dispatcher run before the loop goes on.
    if (!batch.empty()) dispatch_.Value().MakeCallback(env.Global(), {batch.value()}, *dispatch_context_);
  }

  struct StreamEntry {
    std::shared_ptr<StreamState> state;
    StreamWrap* wrap;
    Napi::ObjectReference object;
  };

  static Napi::Object DescribeFormat(Napi::Env env, const PcmDevice& device) {
    const PcmFormat& f = device.format();
    Napi::Object out = Napi::Object::New(env);
    out.Set("pcm", device.name());
    out.Set("format", snd_pcm_format_name(f.format));
    out.Set("rate", f.rate);
    out.Set("channels", f.channels);
    out.Set("periodFrames", static_cast<double>(f.period_frames));
    out.Set("bufferFrames", static_cast<double>(f.buffer_frames));
    out.Set("frameBytes", static_cast<double>(f.frame_bytes));
    out.Set("access", "mmap");
    out.Set("card", device.card() < 0 ? env.Null() : Napi::Number::New(env, device.card()));
    return out;
  }

  static Napi::Object Summary(Napi::Env env, const StreamState& state) {
    static const char* const kOutcomes[] = {"none", "played", "aborted", "device_lost", "closed"};
    Napi::Object out = Napi::Object::New(env);
    out.Set("outcome", kOutcomes[state.outcome.load(std::memory_order_acquire)]);
    out.Set("frames", static_cast<double>(state.frames_played.load()));
    out.Set("underruns", state.underruns.load());
    out.Set("firstWriteNs", static_cast<double>(state.first_write_ns.load()));
    out.Set("firstCommitNs", static_cast<double>(state.first_commit_ns.load()));
    out.Set("duckedMs", static_cast<double>(state.ducked_ns.load()) / 1e6);
    out.Set("pausedMs", static_cast<double>(state.paused_ns.load()) / 1e6);
    return out;
  }

  Napi::Value Info(const Napi::CallbackInfo&) { return info_.Value(); }

  void RequireOpen(Napi::Env env) {
    if (playback_ == nullptr) throw MakeTypeError(env, "E_DEVICE_CLOSED", "the device is closed");
  }

  Napi::Value CreateStream(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    Napi::Object options = info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
    StreamSetup setup;
    if (options.Has("gain")) setup.gain = options.Get("gain").As<Napi::Number>().FloatValue();
    if (options.Has("priority")) {
      const int priority = options.Get("priority").As<Napi::Number>().Int32Value();
      if (priority < static_cast<int>(StreamClass::kBackground) || priority > static_cast<int>(StreamClass::kAlarm)) {
        throw MakeTypeError(env, "E_INVALID_ARG", "priority must be 0 to 3");
      }
      setup.priority = static_cast<StreamClass>(priority);
    }
    if (options.Has("follows")) setup.follows = options.Get("follows").As<Napi::Number>().Uint32Value();
    if (options.Has("at")) {
      // Unix ms on the wall clock, to CLOCK_MONOTONIC, which the device clock keeps.
      setup.at_ns = std::llround(options.Get("at").As<Napi::Number>().DoubleValue() * 1e6) - RealtimeOffsetNs();
      setup.late_play = options.Get("late").ToString().Utf8Value() == "play";
    }
    size_t ring_frames = default_ring_frames_;
    if (options.Has("ringFrames")) ring_frames = options.Get("ringFrames").As<Napi::Number>().Int64Value();
    // A stream starts playing once a period is buffered, so the ring must
    // hold at least two.
    ring_frames = std::max(ring_frames, period_frames_ * 2);
    auto state = std::make_shared<StreamState>(next_stream_id_++, ring_frames, frame_bytes_, setup);
    switch (playback_->Attach(state.get())) {
      case PlaybackThread::AttachResult::kAttached:
        break;
      case PlaybackThread::AttachResult::kFull:
        throw MakeTypeError(env, "E_TOO_MANY_STREAMS",
                            "this device already plays " + std::to_string(PlaybackThread::kMaxStreams) + " streams");
      case PlaybackThread::AttachResult::kDeviceFailed:
        throw MakeError(env, playback_->fatal_error());
    }
    Napi::Object object = Napi::Env(env).GetInstanceData<AddonData>()->stream_constructor.New({});
    StreamWrap* wrap = StreamWrap::Unwrap(object);
    wrap->Bind(state, playback_.get(), wakes_, Value(), stream_format_);
    streams_.emplace(state->id, StreamEntry{state, wrap, Napi::Persistent(object)});
    object.Set("id", state->id);
    UpdateRef(env);
    return object;
  }

  // setMasterGain(linear): the software master volume, ramped.
  void SetMasterGain(const Napi::CallbackInfo& info) {
    if (playback_ != nullptr) playback_->SetMasterGain(info[0].As<Napi::Number>().FloatValue());
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    const bool open = playback_ != nullptr;
    out.Set("open", open);
    out.Set("framesCommitted", open ? static_cast<double>(playback_->frames_committed()) : 0.0);
    out.Set("xruns", open ? static_cast<double>(playback_->xruns()) : 0.0);
    out.Set("producerWakes", open ? static_cast<double>(playback_->producer_wakes()) : 0.0);
    out.Set("running", open && playback_->pcm_running());
    out.Set("failed", open && playback_->failed());
    const int realtime = open ? playback_->realtime() : -1;
    out.Set("realtime", realtime < 0 ? env.Null() : Napi::Boolean::New(env, realtime == 1));
    out.Set("streams", static_cast<double>(streams_.size()));
    out.Set("clock", ClockStats(env));
    return out;
  }

  // The device clock (device_clock.h): null fields until a line is fitted.
  Napi::Object ClockStats(Napi::Env env) {
    Napi::Object clock = Napi::Object::New(env);
    const ClockLine line = playback_ != nullptr ? playback_->clock_line() : ClockLine{};
    clock.Set("locked", line.valid);
    clock.Set("driftPpm", line.valid ? Napi::Number::New(env, line.Ppm(playback_->device().format().rate)) : env.Null());
    clock.Set("residualUs", line.valid ? Napi::Number::New(env, line.residual_ns / 1000) : env.Null());
    return clock;
  }

  // Stops the thread and closes the PCM off the JS thread; streams still
  // attached end with outcome "closed".
  // Owns the playback thread from close() on: stops it and closes the PCM
  // off the JS thread, then reports on the JS thread what was left.
  class CloseWorker : public Napi::AsyncWorker {
   public:
    CloseWorker(Napi::Env env, DeviceWrap* device, std::unique_ptr<PlaybackThread> playback)
        : Napi::AsyncWorker(env, "speakerd close"),
          device_(device),
          playback_(std::move(playback)),
          deferred_(Napi::Promise::Deferred::New(env)) {}
    Napi::Promise Promise() { return deferred_.Promise(); }
    void Execute() override {
      playback_->Stop();
      log_ = playback_->TakeLog();
      // A disconnected card refuses drop and hw_free at close, and alsa-lib
      // says so: into the device's log, not onto stderr.
      AlsaLogScope alsa_lines([this](std::string line) { log_.push_back("alsa-lib: " + line); });
      playback_.reset();  // closes the PCM
    }
    void OnOK() override {
      device_->FinishClose(Env(), log_);
      deferred_.Resolve(Env().Undefined());
    }

   private:
    DeviceWrap* device_;
    std::unique_ptr<PlaybackThread> playback_;
    std::vector<std::string> log_;
    Napi::Promise::Deferred deferred_;
  };

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!close_promise_.IsEmpty()) return close_promise_.Value();
    if (playback_ == nullptr) {
      auto deferred = Napi::Promise::Deferred::New(env);
      deferred.Resolve(env.Undefined());
      return deferred.Promise();
    }
    // From here on no JS call reaches the thread: streams stop producing, and
    // stats and events see a closed device.
    for (auto& [id, entry] : streams_) entry.wrap->StopProducing();
    if (wakes_ != nullptr) wakes_->Remove(playback_.get());
    auto* worker = new CloseWorker(env, this, std::move(playback_));
    close_promise_ = Napi::Persistent(worker->Promise().As<Napi::Object>());
    worker->Queue();
    return close_promise_.Value();
  }

  void FinishClose(Napi::Env env, const std::vector<std::string>& log) {
    EventBatch batch(env);
    for (const std::string& line : log) batch.Add("log", 0, Napi::String::New(env, line));
    for (auto& [id, entry] : streams_) {
      StreamState* state = entry.state.get();
      if (state->Phase() != StreamPhase::kRetired) {
        state->outcome.store(static_cast<int>(StreamOutcome::kClosed));
        state->phase.store(static_cast<int>(StreamPhase::kRetired));
      }
      batch.Add("done", id, Summary(env, *state));
      entry.wrap->Detach();
    }
    streams_.clear();
    cleanup_.Remove(env);
    CloseEvents();
    self_.Reset();
    Napi::Function dispatch = dispatch_.Value();
    // A persistent reference is a GC root: holding the dispatcher past close
    // would keep the device, and everything its closure reaches, alive.
    dispatch_.Reset();
    if (!batch.empty()) dispatch.Call({batch.value()});
  }

  // Env teardown (process exit, worker exit) without close(): stop and close
  // synchronously, since nothing can wait any more.
  void Shutdown() {
    if (playback_ == nullptr) return;
    if (wakes_ != nullptr) wakes_->Remove(playback_.get());
    // Decode threads first: they call into the playback thread.
    for (auto& [id, entry] : streams_) entry.wrap->StopProducing();
    playback_->Stop();
    playback_.reset();
    for (auto& [id, entry] : streams_) entry.wrap->Detach();
    streams_.clear();
    CloseEvents();
    dispatch_.Reset();
    self_.Reset();
  }

  // Once no thread can raise an event any more.
  void CloseEvents() {
    if (events_ == nullptr) return;
    events_->Close();
    events_ = nullptr;
  }

  void UpdateRef(Napi::Env env) {
    // Like a socket: a device with streams keeps the process alive, an idle
    // one does not.
    if (playback_ == nullptr) return;
    if (!streams_.empty() && !referenced_) {
      events_->Ref();
      referenced_ = true;
    } else if (streams_.empty() && referenced_) {
      events_->Unref();
      referenced_ = false;
    }
  }

  Napi::ObjectReference info_;
  Napi::ObjectReference self_;
  Napi::ObjectReference close_promise_;
  Napi::FunctionReference dispatch_;
  std::unique_ptr<Napi::AsyncContext> dispatch_context_;
  std::unique_ptr<PlaybackThread> playback_;
  TurnEndWakes* wakes_ = nullptr;
  LoopWake* events_ = nullptr;  // frees itself once closed
  bool recheck_streams_ = false;  // a stream is done but its decode thread not yet gone
  Napi::Env::CleanupHook<std::function<void()>> cleanup_;
  // By id, which is creation order: a batch reports streams in that order, so
  // that a queue's next stream starts after the one before it is done.
  std::map<uint32_t, StreamEntry> streams_;
  size_t frame_bytes_ = 0;
  size_t default_ring_frames_ = 0;
  size_t period_frames_ = 0;
  AudioFormat stream_format_{};  // what a stream's ring holds: the device's format
  uint32_t next_stream_id_ = 1;
  bool referenced_ = false;
};

// Opens a PCM (or the clock sink) off the JS thread and resolves to a Device.
// The open runs on a thread of its own, not on libuv's pool: a driver stuck
// in open() would hold a pool thread for good, and Node joins the pool when
// the process exits, so even process.exit() would hang behind it. A detached
// thread dies with the process; if it returns after the environment is gone,
// it closes what it opened itself.
class OpenJob {
 public:
  static Napi::Promise Start(Napi::Env env, PcmRequest request, PlaybackOptions options, bool clock_sink,
                             ClockSinkOptions clock_options, Napi::Function dispatch) {
    auto* job = new OpenJob(env, std::move(request), options, clock_sink, std::move(clock_options), dispatch);
    Napi::Promise promise = job->deferred_.Promise();
    job->done_ = DoneFunction::New(env, "speakerd open", 0, 1);
    std::thread([job] { job->Run(); }).detach();
    return promise;
  }

 private:
  static void Finish(Napi::Env env, Napi::Function, std::nullptr_t*, OpenJob* job);
  using DoneFunction = Napi::TypedThreadSafeFunction<std::nullptr_t, OpenJob, Finish>;

  OpenJob(Napi::Env env, PcmRequest request, PlaybackOptions options, bool clock_sink, ClockSinkOptions clock_options,
          Napi::Function dispatch)
      : request_(std::move(request)),
        clock_sink_(clock_sink),
        clock_options_(std::move(clock_options)),
        deferred_(Napi::Promise::Deferred::New(env)),
        dispatch_(Napi::Persistent(dispatch)) {
    result_.options = options;
  }

  void Run() {
    Open();
    DoneFunction done = done_;
    if (done.NonBlockingCall(this) != napi_ok) {
      // The environment is gone: nobody will take the device.
      Abandon();
    }
    done.Release();
  }

  void Open() {
    // Decided here, before the hardware parameters are set: the buffer depends on it.
    request_ = WithBufferFor(std::move(request_), result_.options.realtime && SchedFifoPermitted());
    if (!clock_sink_) {
      result_.device = PcmDevice::Open(request_, &result_.error);
      return;
    }
    snd_pcm_t* pcm = nullptr;
    const int err = OpenClockSink(&pcm, request_.pcm.c_str(), clock_options_);
    if (err < 0) {
      SetAlsaError(&result_.error, "E_ALSA_OPEN", err, "cannot create the clock sink");
      return;
    }
    result_.device = PcmDevice::Adopt(pcm, request_, &result_.error);
  }

  // Frees the job without touching JS: the references belong to a dead env.
  void Abandon() {
    dispatch_.SuppressDestruct();
    delete this;  // closes an opened PCM
  }

  void Settle(Napi::Env env) {
    if (!result_.device) {
      deferred_.Reject(MakeError(env, result_.error).Value());
      return;
    }
    Napi::Object device = env.GetInstanceData<AddonData>()->device_constructor.New(
        {Napi::External<OpenResult>::New(env, &result_), dispatch_.Value()});
    deferred_.Resolve(device);
  }

  PcmRequest request_;
  bool clock_sink_;
  ClockSinkOptions clock_options_;
  OpenResult result_;
  Napi::Promise::Deferred deferred_;
  Napi::FunctionReference dispatch_;
  DoneFunction done_;
};

void OpenJob::Finish(Napi::Env env, Napi::Function, std::nullptr_t*, OpenJob* job) {
  if (env == nullptr) {
    job->Abandon();  // the function is torn down with the environment
    return;
  }
  job->Settle(env);
  delete job;
}

// open(options, dispatch): options are checked by the JS wrapper; these
// checks only keep a bad call from reaching alsa-lib.
Napi::Value Open(const Napi::CallbackInfo& info, bool clock_sink) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject() || !info[1].IsFunction()) {
    throw MakeTypeError(env, "E_INVALID_ARG", "open(options, dispatch) needs an object and a function");
  }
  Napi::Object o = info[0].As<Napi::Object>();
  PcmRequest request;
  request.pcm = o.Get("pcm").As<Napi::String>().Utf8Value();
  if (o.Has("alsaConfig") && o.Get("alsaConfig").IsString()) {
    request.alsa_config = o.Get("alsaConfig").As<Napi::String>().Utf8Value();
  }
  const std::string format = o.Get("format").As<Napi::String>().Utf8Value();
  request.format = snd_pcm_format_value(format.c_str());
  if (!Mixer::Supports(request.format)) {
    throw MakeTypeError(env, "E_INVALID_FORMAT", "unsupported sample format " + format);
  }
  request.rate = o.Get("rate").As<Napi::Number>().Uint32Value();
  request.channels = o.Get("channels").As<Napi::Number>().Uint32Value();
  request.period_frames = o.Get("periodFrames").As<Napi::Number>().Uint32Value();
  request.periods = o.Get("periods").As<Napi::Number>().Uint32Value();
  PlaybackOptions options;
  options.policy = o.Get("underrun").As<Napi::String>().Utf8Value() == "wait" ? UnderrunPolicy::kWait
                                                                               : UnderrunPolicy::kSilence;
  options.idle_ms = o.Get("idleMs").As<Napi::Number>().Uint32Value();
  options.realtime = o.Get("realtime").ToBoolean().Value();
  options.duck_gain = o.Get("duckGain").As<Napi::Number>().FloatValue();
  options.duck_ramp_ms = o.Get("duckRampMs").As<Napi::Number>().Uint32Value();
  options.fade_ms = o.Get("fadeMs").As<Napi::Number>().Uint32Value();
  options.master_gain = o.Get("masterGain").As<Napi::Number>().FloatValue();
  ClockSinkOptions clock_options;
  if (clock_sink) {
    clock_options.ppm = o.Get("ppm").As<Napi::Number>().DoubleValue();
    clock_options.timeline = o.Get("timeline").As<Napi::String>().Utf8Value();
  }
  return OpenJob::Start(env, std::move(request), options, clock_sink, std::move(clock_options),
                        info[1].As<Napi::Function>());
}

}  // namespace

void InitDeviceWrap(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  data->device_constructor = Napi::Persistent(DeviceWrap::Define(env));
  data->stream_constructor = Napi::Persistent(StreamWrap::Define(env));
  // Before any device registers its cleanup hook (turn_end_wakes.h).
  data->turn_end_wakes = TurnEndWakes::Create(env);
  env.SetInstanceData(data);
  exports.Set("openDevice", Napi::Function::New(env, [](const Napi::CallbackInfo& info) { return Open(info, false); }));
  exports.Set("openClockSink",
              Napi::Function::New(env, [](const Napi::CallbackInfo& info) { return Open(info, true); }));
}

}  // namespace speakerd
