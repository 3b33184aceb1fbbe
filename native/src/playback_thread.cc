#include "playback_thread.h"

#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>

#include "alsa_log.h"
#include "realtime.h"

namespace speakerd {

namespace {
// However a PCM's descriptors behave, a sleeping thread looks at the PCM's
// state at least this often, so that a lost device is noticed without traffic.
constexpr int kLossCheckMs = 500;

size_t MsToFrames(unsigned ms, unsigned rate) { return static_cast<size_t>(ms) * rate / 1000; }

LevelSettings LevelSettingsFor(const PlaybackOptions& options, unsigned rate) {
  LevelSettings settings;
  settings.gain_ramp_frames = MsToFrames(kGainRampMs, rate);
  settings.duck_ramp_frames = MsToFrames(options.duck_ramp_ms, rate);
  settings.fade_frames = MsToFrames(options.fade_ms, rate);
  settings.duck_gain = options.duck_gain;
  return settings;
}
}  // namespace

PlaybackThread::PlaybackThread(std::unique_ptr<PcmDevice> device, PlaybackOptions options,
                               std::function<void()> notify)
    : device_(std::move(device)),
      options_(options),
      notify_(std::move(notify)),
      mixer_(device_->format().format, device_->format().channels, device_->format().buffer_frames),
      // A PCM with a card under it (hw, plughw, dmix) is stamped by the kernel.
      clock_(device_->format().rate, static_cast<unsigned>(device_->format().period_frames),
             device_->card() >= 0 ? ReportStamps::kKernel : ReportStamps::kPlugin),
      level_settings_(LevelSettingsFor(options_, device_->format().rate)),
      master_target_(options_.master_gain),
      master_(options_.master_gain),
      gains_(device_->format().buffer_frames),
      master_gains_(device_->format().buffer_frames) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

PlaybackThread::~PlaybackThread() {
  Stop();
  if (wake_fd_ >= 0) close(wake_fd_);
}

void PlaybackThread::Start() {
  stop_.store(false, std::memory_order_release);
  thread_ = std::thread([this] { Run(); });
}

void PlaybackThread::Stop() {
  if (!thread_.joinable()) return;
  stop_.store(true, std::memory_order_seq_cst);
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
  thread_.join();
}

PlaybackThread::AttachResult PlaybackThread::Attach(StreamState* stream) {
  if (failed_.load(std::memory_order_acquire)) return AttachResult::kDeviceFailed;
  for (auto& slot : slots_) {
    StreamState* expected = nullptr;
    // seq_cst, paired with the thread's failed_ store and slot exchanges in
    // RetireAll: either the thread sees this stream and retires it, or the
    // load below sees failed_ (or both; then the slot decides who has it).
    // It also publishes the stream's initialised fields to the thread.
    if (!slot.compare_exchange_strong(expected, stream, std::memory_order_seq_cst, std::memory_order_relaxed)) {
      continue;
    }
    if (failed_.load(std::memory_order_seq_cst)) {
      StreamState* attached = stream;
      // Withdraw, unless the thread already took it and will report it done.
      if (slot.compare_exchange_strong(attached, nullptr, std::memory_order_seq_cst)) return AttachResult::kDeviceFailed;
    }
    ProducerProgress();
    return AttachResult::kAttached;
  }
  return AttachResult::kFull;
}

void PlaybackThread::NoteProgress() { progress_.store(true, std::memory_order_seq_cst); }

void PlaybackThread::ProducerProgress() {
  NoteProgress();
  // One eventfd write per sleep, however many writes (of several streams)
  // come before the thread runs (see turn_end_wakes.h for what one costs).
  if (waiting_.load(std::memory_order_seq_cst) && !wake_sent_.exchange(true, std::memory_order_acq_rel)) {
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof one);
    producer_wakes_.fetch_add(1, std::memory_order_relaxed);
  }
}

std::vector<std::string> PlaybackThread::TakeLog() {
  std::lock_guard<std::mutex> lock(log_mutex_);
  std::vector<std::string> out;
  out.swap(log_);
  return out;
}

DeviceError PlaybackThread::fatal_error() {
  std::lock_guard<std::mutex> lock(log_mutex_);
  return fatal_;
}

void PlaybackThread::Log(std::string line) {
  {
    std::lock_guard<std::mutex> lock(log_mutex_);
    if (log_.size() < 1000) log_.push_back(std::move(line));  // bounded if JS stops collecting
  }
  Raise(kDeviceLog);
}

void PlaybackThread::Raise(uint32_t device_event) {
  device_events_.fetch_or(device_event, std::memory_order_acq_rel);
  retired_unannounced_ = false;  // this call announces them too
  notify_();
}

void PlaybackThread::AnnounceRetired() {
  if (!retired_unannounced_) return;
  retired_unannounced_ = false;
  notify_();
}

void PlaybackThread::RaiseStream(StreamState* stream, uint32_t stream_event) {
  stream->events.fetch_or(stream_event, std::memory_order_acq_rel);
  Raise(kDeviceStreams);
}

void PlaybackThread::RaiseFromProducer(StreamState* stream, uint32_t stream_event) {
  // Not Raise(): its bookkeeping of retired streams is the playback thread's own.
  stream->events.fetch_or(stream_event, std::memory_order_acq_rel);
  device_events_.fetch_or(kDeviceStreams, std::memory_order_acq_rel);
  notify_();
}

void PlaybackThread::TrySchedFifo() {
  if (!options_.realtime) {
    realtime_.store(0);
    return;
  }
  sched_param param{};
  param.sched_priority = RealtimePriority();
  const int rc = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param);
  realtime_.store(rc == 0 ? 1 : 0);
  if (rc != 0) {
    const PcmFormat& format = device_->format();
    Log(std::string("SCHED_FIFO priority ") + std::to_string(param.sched_priority) + " refused (" + strerror(rc) +
        "); playing at normal priority with a " + FormatMs(format.buffer_frames, format.rate) +
        " buffer (at least " + std::to_string(kMinBufferMsWithoutRealtime) +
        " ms without SCHED_FIFO). Grant CAP_SYS_NICE or RLIMIT_RTPRIO to allow it.");
  } else {
    Log("playback thread runs SCHED_FIFO at priority " + std::to_string(param.sched_priority));
  }
}

void PlaybackThread::Run() {
  AlsaLogScope alsa_lines([this](std::string line) { Log("alsa-lib: " + line); });
  // Named so that top -H, perf and /proc/PID/task show which thread plays.
  pthread_setname_np(pthread_self(), "speakerd-play");
  TrySchedFifo();
  snd_pcm_t* pcm = device_->handle();
  const int count = snd_pcm_poll_descriptors_count(pcm);
  pollfds_.assign(1 + std::max(count, 0), pollfd{});
  pollfds_[0] = pollfd{wake_fd_, POLLIN, 0};
  if (count > 0) snd_pcm_poll_descriptors(pcm, &pollfds_[1], count);
  pcm_events_.clear();
  for (size_t i = 1; i < pollfds_.size(); ++i) pcm_events_.push_back(pollfds_[i].events);
  idle_since_ns_ = MonotonicNowNs();

  while (!stop_.load(std::memory_order_acquire)) {
    if (!Step()) break;
    AnnounceRetired();
  }
  if (running_) StopPcm();
  AnnounceRetired();
}

bool PlaybackThread::Step() {
  // Exchange, not store: reading the producers' seq_cst store makes their ring
  // writes visible before we look at the rings below.
  progress_.exchange(false, std::memory_order_acq_rel);

  snd_pcm_t* pcm = device_->handle();
  const PcmFormat& format = device_->format();
  const snd_pcm_sframes_t avail = snd_pcm_avail_update(pcm);
  if (avail < 0) return HandlePcmError(static_cast<int>(avail), "avail_update");
  if (running_) ObserveClock();
  AdvanceStreams(avail);
  SteerStreams();

  // What the streams can give: a chunk may not outrun any stream still
  // producing (it would be a gap), while streams that have ended give what
  // they have left and are padded with silence after their last frame.
  size_t playing = 0;
  bool finishing = false;
  bool waiting_for_buffering = false;
  size_t min_open = std::numeric_limits<size_t>::max();
  size_t max_ended = 0;
  // The nearest end among them: a chunk stops there, so that what changes
  // when a stream ends or finishes a fade (an unduck, a resume, the next of
  // a queue) starts on the very next frame.
  size_t nearest_end = std::numeric_limits<size_t>::max();
  // Timed streams not started yet keep the device running (its clock places
  // them), and a chunk stops where the first of them starts.
  bool timed_waiting = false;
  for (auto& slot : slots_) {
    StreamState* stream = slot.load(std::memory_order_acquire);
    if (stream == nullptr) continue;
    const StreamPhase phase = stream->Phase();
    const bool ended = stream->ended.load(std::memory_order_acquire);
    if (phase == StreamPhase::kFinishing) finishing = true;
    if (phase == StreamPhase::kBuffering && stream->timed() && !stream->held) {
      timed_waiting = true;
      if (stream->placed) nearest_end = std::min(nearest_end, static_cast<size_t>(stream->start_position - static_cast<int64_t>(committed_)));
      continue;
    }
    // The wait policy never starts the mix without a stream that is still
    // buffering, so that streams created together start together.
    // A queue's next stream is not waited for while its predecessor plays.
    if (phase == StreamPhase::kBuffering && !ended && !stream->held && options_.policy == UnderrunPolicy::kWait) {
      waiting_for_buffering = true;
    }
    // A paused stream holds nothing back: not the device, not the others.
    if (phase != StreamPhase::kPlaying || !stream->level.mixed()) continue;
    ++playing;
    const size_t ready = Mixable(stream);
    if (stream->level.bounded()) {
      // Fading out to a pause or a cut: gives what its fade takes, like an
      // ended stream, which it always has in its ring.
      const size_t left = std::min(ready, stream->level.frames_left());
      max_ended = std::max(max_ended, left);
      if (left > 0) nearest_end = std::min(nearest_end, left);
    } else if (ended) {
      max_ended = std::max(max_ended, ready);
      if (ready > 0) nearest_end = std::min(nearest_end, ready);
    } else {
      min_open = std::min(min_open, ready);
    }
  }
  if (waiting_for_buffering) min_open = 0;

  const size_t space = static_cast<size_t>(avail);
  const size_t period = format.period_frames;
  const size_t queued = format.buffer_frames - std::min(space, static_cast<size_t>(format.buffer_frames));

  if (playing == 0) {
    if (!running_ && !timed_waiting) return Wait(false, -1);
    if (options_.policy == UnderrunPolicy::kWait && !timed_waiting) {
      // Never invent samples: let the queue play out, then stop. Not by
      // waiting for the PCM: a card's descriptor is ready whenever a period
      // is free, which it is all along while the queue drains, and the
      // thread would spin.
      if (queued == 0) {
        StopPcm();
        return true;
      }
      return Wait(false, static_cast<int>(queued * 1000 / format.rate) + 1);
    }
    // Silence policy: keep the device fed while streams play out their tail and
    // for idle_ms after, so that the next stream starts without a click.
    if (!finishing && !timed_waiting && MonotonicNowNs() - idle_since_ns_ >= static_cast<int64_t>(options_.idle_ms) * 1000000) {
      StopPcm();
      return true;
    }
    const bool placed_timed_waiting = timed_waiting && nearest_end != std::numeric_limits<size_t>::max();
    size_t chunk;
    if (placed_timed_waiting) {
      // A placed timed stream gets silence up to its first frame, a buffer
      // ahead as if it played: its start holds only if the card never runs
      // dry, and a stall of the machine is then covered as a playing
      // stream's is. Refilled a period at a time, as the card frees it.
      if (running_ && space < period) return Wait(true, -1);
      chunk = std::min(space, nearest_end);
      if (chunk == 0) return true;  // its frame is next: it starts on the next pass
    } else {
      // Otherwise silence is kept half a buffer ahead (two periods at
      // least), not a whole one, so that a stream that comes starts within
      // that and a period. The wait for it is timed: a card's descriptor is
      // ready whenever a period is free, and polling it here woke the
      // thread at once, again and again (snd-aloop: 40000 times a second, a
      // whole core).
      const size_t ahead = std::max<size_t>(2 * period, format.buffer_frames / 2);
      if (running_ && queued >= ahead) return Wait(false, static_cast<int>((queued - ahead) * 1000 / format.rate) + 1);
      chunk = std::min({space, period, nearest_end});
    }
    const int err = MixAndCommit(chunk);
    if (err < 0) return HandlePcmError(err, "mmap_commit");
    if (!running_ && !StartPcm()) return false;
    return true;
  }

  idle_since_ns_ = MonotonicNowNs();
  if (running_ && space < period) return Wait(true, -1);
  const bool dry = min_open == 0;
  size_t chunk = std::min({space, min_open != std::numeric_limits<size_t>::max() ? min_open : max_ended, nearest_end});
  if (chunk == 0 && !dry) return true;  // ended streams are empty: they finish on the next pass
  if (chunk == 0) {
    // A playing stream is dry.
    if (options_.policy == UnderrunPolicy::kWait) return Wait(false, -1);
    if (running_ && queued >= period) {
      // More than a period is still queued: give the producer until then.
      return Wait(false, static_cast<int>((queued - period) * 1000 / format.rate) + 1);
    }
    chunk = std::min({space, period, nearest_end});  // the dry streams contribute silence
  }
  const int err = MixAndCommit(chunk);
  if (err < 0) return HandlePcmError(err, "mmap_commit");
  if (!running_ && !StartPcm()) return false;
  return true;
}

// Moves streams through their phases, using the device's play position.
void PlaybackThread::AdvanceStreams(snd_pcm_sframes_t avail) {
  const PcmFormat& format = device_->format();
  if (running_) {
    const uint64_t queued = format.buffer_frames - std::min<uint64_t>(avail, format.buffer_frames);
    played_ = committed_ - std::min(committed_, queued);
  } else {
    played_ = committed_;
  }
  for (size_t i = 0; i < kMaxStreams; ++i) {
    StreamState* stream = slots_[i].load(std::memory_order_acquire);
    if (stream == nullptr) continue;
    // A cut before the first frame (or after the fade) ends the stream now.
    const bool cut_unplayed = stream->Phase() == StreamPhase::kBuffering && stream->cut.load(std::memory_order_acquire);
    if (stream->aborted.load(std::memory_order_acquire) || cut_unplayed ||
        stream->level.motion() == StreamLevel::Motion::kCut) {
      Retire(i, StreamOutcome::kAborted);
      continue;
    }
    if (stream->timed() && stream->Phase() == StreamPhase::kPlaying) KeepOnTime(stream);
    if (stream->Phase() == StreamPhase::kPlaying && stream->ended.load(std::memory_order_acquire) &&
        stream->ring.Readable() == 0) {
      stream->end_position = committed_;
      stream->phase.store(static_cast<int>(StreamPhase::kFinishing), std::memory_order_release);
    }
    if (stream->Phase() == StreamPhase::kFinishing && played_ >= stream->end_position) {
      Retire(i, StreamOutcome::kPlayed);
      continue;
    }
    // Wake a blocked producer once half the ring is free, not at every
    // frame, so that a fast producer is woken rarely and writes big chunks.
    // A timed stream's producer that may convert no further yet is woken
    // once it may (clock_lock.h).
    if (stream->wants_drain.load(std::memory_order_acquire) &&
        stream->ring.capacity() - stream->ring.Fill() >= stream->ring.capacity() / 2 &&
        MonotonicNowNs() >= stream->convert_at_ns.load(std::memory_order_relaxed) &&
        stream->wants_drain.exchange(false, std::memory_order_acq_rel)) {
      const int room_wake_fd = stream->room_wake_fd.load(std::memory_order_acquire);
      if (room_wake_fd >= 0) {
        const uint64_t one = 1;
        (void)!write(room_wake_fd, &one, sizeof one);
      } else {
        RaiseStream(stream, kStreamDrain);
      }
    }
  }
  // Buffering streams after the others: a queue's next stream sees its
  // predecessor finish in this same pass, and starts in the very next chunk.
  for (auto& slot : slots_) {
    StreamState* stream = slot.load(std::memory_order_acquire);
    if (stream == nullptr || stream->Phase() != StreamPhase::kBuffering) continue;
    stream->held = stream->follows != 0 && Unfinished(stream->follows);
    if (stream->held) continue;
    if (stream->timed()) {
      PlaceTimed(stream);
      continue;
    }
    // Audio starts as soon as one period is buffered (or the stream is
    // shorter than that), so that slow producers do not stutter at once.
    if (stream->ended.load(std::memory_order_acquire) || stream->ring.Readable() >= format.period_frames) {
      stream->phase.store(static_cast<int>(StreamPhase::kPlaying), std::memory_order_release);
    }
  }
}

int64_t PlaybackThread::StartPosition(const StreamState* stream, const ClockLine& line) const {
  // A stream started late by choice (late_play) keeps the time it started at.
  const int64_t start_ns = stream->placed && stream->late_play ? stream->start_ns.load(std::memory_order_relaxed) : stream->at_ns;
  return std::llround(line.PositionAt(static_cast<double>(start_ns)));
}

size_t PlaybackThread::PlaceTimed(StreamState* stream) {
  const int64_t written = static_cast<int64_t>(committed_);
  const ClockLine line = clock_.Line();
  // Until the device has run long enough for a line the stream waits (the
  // device runs for it). The line is refined by every report, so the start
  // is too, until it is within a buffer of what is written.
  const int64_t buffer = static_cast<int64_t>(device_->format().buffer_frames);
  if (line.valid && (!stream->placed || stream->start_position - written > buffer)) {
    stream->start_position = StartPosition(stream, line);
    if (stream->start_position < written && stream->late_play) stream->start_position = written;
    stream->placed = true;
    stream->placed_generation = line.generation;
    stream->start_published.store(stream->start_position, std::memory_order_release);
    stream->start_ns.store(std::llround(line.TimeOf(static_cast<double>(stream->start_position))), std::memory_order_relaxed);
  }
  if (!stream->placed) return 0;
  if (stream->start_position > written) return static_cast<size_t>(stream->start_position - written);
  // Its frame is next (or passed: KeepOnTime drops what belongs to the past).
  stream->phase.store(static_cast<int>(StreamPhase::kPlaying), std::memory_order_release);
  KeepOnTime(stream);
  return 0;
}

void PlaybackThread::KeepOnTime(StreamState* stream) {
  const ClockLine line = clock_.Line();
  // The device's timeline restarted (an xrun, a recovery): the frames queued
  // then were lost, and what was written no longer plays when it did.
  if (line.valid && line.generation != stream->placed_generation) {
    stream->start_position = StartPosition(stream, line);
    stream->placed_generation = line.generation;
    stream->start_published.store(stream->start_position, std::memory_order_release);
  }
  const int64_t due = static_cast<int64_t>(committed_) - stream->start_position;
  if (due <= static_cast<int64_t>(stream->ring_index)) return;
  const size_t behind = static_cast<size_t>(due - static_cast<int64_t>(stream->ring_index));
  const size_t dropped = std::min(behind, stream->ring.Readable());
  if (dropped == 0) return;
  stream->ring.Consume(dropped);
  stream->ring_index += dropped;
  stream->frames_skipped.fetch_add(dropped, std::memory_order_relaxed);
  // Frames taken from the ring are room for the producer, as mixing is.
  if (stream->wants_drain.load(std::memory_order_acquire)) ProducerProgress();
}

size_t PlaybackThread::Mixable(StreamState* stream) const {
  const size_t readable = stream->ring.Readable();
  // A stream to end with a fade keeps its last fade's worth until it has
  // ended: only then is it known which frames are the last.
  if (!stream->fade_tail.load(std::memory_order_acquire) || stream->ended.load(std::memory_order_acquire)) return readable;
  return readable - std::min(readable, level_settings_.fade_frames);
}

bool PlaybackThread::Unfinished(uint32_t id) const {
  for (const auto& slot : slots_) {
    const StreamState* stream = slot.load(std::memory_order_acquire);
    if (stream == nullptr || stream->id != id) continue;
    const StreamPhase phase = stream->Phase();
    return phase == StreamPhase::kBuffering || phase == StreamPhase::kPlaying;
  }
  return false;
}

void PlaybackThread::SteerStreams() {
  // The highest class that plays (not paused by its client, not being cut)
  // ducks every lower one; an alarm pauses them instead.
  int top = -1;
  for (const auto& slot : slots_) {
    const StreamState* stream = slot.load(std::memory_order_acquire);
    if (stream == nullptr || stream->Phase() != StreamPhase::kPlaying) continue;
    if (stream->paused.load(std::memory_order_acquire) || stream->cut.load(std::memory_order_acquire)) continue;
    top = std::max(top, static_cast<int>(stream->priority));
  }
  const int64_t now = MonotonicNowNs();
  for (size_t i = 0; i < kMaxStreams; ++i) {
    StreamState* stream = slots_[i].load(std::memory_order_acquire);
    if (stream == nullptr || stream->Phase() != StreamPhase::kPlaying) continue;
    const int priority = static_cast<int>(stream->priority);
    const bool preempted = top == static_cast<int>(StreamClass::kAlarm) && priority < top;
    LevelWants wants;
    wants.client_gain = stream->gain.load(std::memory_order_relaxed);
    wants.ducked = !preempted && priority < top;
    wants.paused = preempted || stream->paused.load(std::memory_order_acquire);
    wants.cut = stream->cut.load(std::memory_order_acquire);
    // `ended` before the ring's fill: the producer's last frames are in it.
    wants.fade_tail = stream->ended.load(std::memory_order_acquire) && stream->fade_tail.load(std::memory_order_acquire);
    stream->level.Steer(wants, level_settings_, stream->ring.Readable());
    NoteFlips(stream, wants.ducked, wants.paused, now);
    if (stream->level.motion() == StreamLevel::Motion::kCut) Retire(i, StreamOutcome::kAborted);
  }
}

void PlaybackThread::NoteFlips(StreamState* stream, bool ducked, bool paused, int64_t now) {
  if (ducked == stream->ducked_now && paused == stream->paused_now) return;
  const int64_t spent = now - stream->flip_ns;
  if (stream->ducked_now) stream->ducked_ns.fetch_add(spent, std::memory_order_relaxed);
  if (stream->paused_now) stream->paused_ns.fetch_add(spent, std::memory_order_relaxed);
  if (ducked != stream->ducked_now) stream->duck_flips.fetch_add(1, std::memory_order_relaxed);
  if (paused != stream->paused_now) stream->pause_flips.fetch_add(1, std::memory_order_relaxed);
  stream->ducked_now = ducked;
  stream->paused_now = paused;
  stream->flip_ns = now;
  RaiseStream(stream, kStreamLevel);
}

int PlaybackThread::MixAndCommit(size_t frames) {
  snd_pcm_t* pcm = device_->handle();
  size_t done = 0;
  while (done < frames) {
    const snd_pcm_channel_area_t* areas = nullptr;
    snd_pcm_uframes_t offset = 0;
    snd_pcm_uframes_t count = frames - done;
    int err = snd_pcm_mmap_begin(pcm, &areas, &offset, &count);
    if (err < 0) return err;
    if (count == 0) break;
    // Interleaved: every channel shares one area; channel 0 marks the frame.
    uint8_t* dst = static_cast<uint8_t*>(areas[0].addr) + (areas[0].first + offset * areas[0].step) / 8;
    MixInto(dst, count);
    const snd_pcm_sframes_t committed = snd_pcm_mmap_commit(pcm, offset, count);
    if (committed < 0) {
      // The chunk never reached the device: streams report only what did.
      for (auto& slot : slots_) {
        StreamState* stream = slot.load(std::memory_order_acquire);
        if (stream != nullptr) stream->frames_played.fetch_sub(stream->chunk_frames, std::memory_order_relaxed);
      }
      return static_cast<int>(committed);
    }
    if (static_cast<snd_pcm_uframes_t>(committed) != count) return -EPIPE;
    committed_ += count;
    done += count;
    // Per part: a later part that fails must not hide this one's frames.
    frames_committed_.store(committed_, std::memory_order_relaxed);
  }
  return 0;
}

void PlaybackThread::MixInto(uint8_t* dst, size_t frames) {
  const int64_t now = MonotonicNowNs();
  const float master_target = master_target_.load(std::memory_order_relaxed);
  if (master_target != master_.target()) master_.MoveTo(master_target, level_settings_.gain_ramp_frames);
  const bool master_unity = !master_.moving() && master_.value() == 1.0f;
  StreamState* sole = nullptr;
  size_t contributors = 0;
  for (auto& slot : slots_) {
    StreamState* stream = slot.load(std::memory_order_acquire);
    if (stream == nullptr) continue;
    stream->chunk_frames = 0;
    if (stream->Phase() != StreamPhase::kPlaying || !stream->level.mixed()) continue;
    if (stream->ring.Readable() == 0 && stream->ended.load(std::memory_order_acquire)) continue;
    sole = stream;
    ++contributors;
  }

  auto account = [&](StreamState* stream, size_t got) {
    stream->chunk_frames = got;
    stream->ring_index += got;
    if (got > 0) {
      if (stream->first_commit_ns.load(std::memory_order_relaxed) == 0) {
        stream->first_commit_ns.store(now, std::memory_order_relaxed);
        stream->level.MarkStarted();
        RaiseStream(stream, kStreamStarted);
      }
      stream->frames_played.fetch_add(got, std::memory_order_relaxed);
    }
    stream->current_level.store(stream->level.level(), std::memory_order_relaxed);
    // A fade that ends inside the chunk is not a dry ring.
    if (got < frames && !stream->ended.load(std::memory_order_acquire) && !stream->level.bounded() &&
        stream->level.mixed()) {
      if (!stream->dry) {
        stream->dry = true;
        stream->underruns.fetch_add(1, std::memory_order_relaxed);
        RaiseStream(stream, kStreamUnderrun);
      }
    } else {
      stream->dry = false;
    }
  };

  const size_t frame_bytes = device_->format().frame_bytes;
  // The common case, one stream at unity level with a whole chunk ready: copy.
  if (contributors == 1 && master_unity && sole->level.motion() == StreamLevel::Motion::kPlaying &&
      sole->level.Steady() && sole->level.level() == 1.0f && Mixable(sole) >= frames) {
    const StreamRing::Regions regions = sole->ring.Peek(frames);
    std::memcpy(dst, regions.first, regions.first_frames * frame_bytes);
    std::memcpy(dst + regions.first_frames * frame_bytes, regions.second, regions.second_frames * frame_bytes);
    sole->ring.Consume(frames);
    account(sole, frames);
    return;
  }
  if (contributors == 0) {
    mixer_.Silence(dst, frames);
    master_.Skip(frames);
    return;
  }
  mixer_.Begin(frames);
  for (auto& slot : slots_) {
    StreamState* stream = slot.load(std::memory_order_acquire);
    if (stream == nullptr || stream->Phase() != StreamPhase::kPlaying || !stream->level.mixed()) continue;
    StreamLevel& level = stream->level;
    const bool bounded = level.bounded();
    size_t got = std::min(Mixable(stream), frames);
    if (bounded) got = std::min(got, level.frames_left());
    // A fade out ends with the stream's frames; every other level moves with
    // the mix, also over the silence of a dry ring.
    const size_t span = bounded ? got : frames;
    const StreamRing::Regions regions = stream->ring.Peek(got);
    if (level.Steady()) {
      const float gain = level.level();
      mixer_.Add(regions.first, regions.first_frames, gain, 0);
      mixer_.Add(regions.second, regions.second_frames, gain, regions.first_frames);
      level.Advance(span);
    } else {
      level.Fill(gains_.data(), span);
      mixer_.AddRamped(regions.first, regions.first_frames, gains_.data(), 0);
      mixer_.AddRamped(regions.second, regions.second_frames, gains_.data() + regions.first_frames,
                       regions.first_frames);
    }
    stream->ring.Consume(got);
    account(stream, got);
  }
  if (!master_unity) {
    std::fill_n(master_gains_.begin(), frames, 1.0f);
    master_.Apply(master_gains_.data(), frames);
    mixer_.Scale(master_gains_.data());
  }
  mixer_.Finish(dst);
}

bool PlaybackThread::StartPcm() {
  const int err = snd_pcm_start(device_->handle());
  if (err < 0) return HandlePcmError(err, "start");
  running_ = true;
  pcm_running_.store(true, std::memory_order_relaxed);
  return true;
}

void PlaybackThread::ObserveClock() {
  snd_pcm_status_t* status;
  snd_pcm_status_alloca(&status);
  if (snd_pcm_status(device_->handle(), status) < 0 || snd_pcm_status_get_state(status) != SND_PCM_STATE_RUNNING) return;
  const snd_pcm_sframes_t delay = snd_pcm_status_get_delay(status);
  if (delay < 0 || static_cast<uint64_t>(delay) > committed_) return;
  snd_htimestamp_t at;
  snd_pcm_status_get_htstamp(status, &at);
  clock_.Observe(static_cast<int64_t>(at.tv_sec) * 1000000000 + at.tv_nsec, committed_ - static_cast<uint64_t>(delay));
}

void PlaybackThread::StopPcm() {
  clock_.Restart();
  device_->Stop();
  running_ = false;
  pcm_running_.store(false, std::memory_order_relaxed);
  played_ = committed_;
}

// The one place PCM errors are handled. An xrun or a suspend is recovered
// and counted when streams were playing; an xrun of an idle device in the
// wait policy is just the queue running out. Anything else is fatal.
bool PlaybackThread::HandlePcmError(int err, const char* during) {
  bool streams_playing = false;
  for (auto& slot : slots_) {
    StreamState* stream = slot.load(std::memory_order_acquire);
    if (stream != nullptr && stream->Phase() == StreamPhase::kPlaying) streams_playing = true;
  }
  clock_.Restart();  // whatever happened, the frames' times start over
  int recovered = device_->Recover(err);
  if (recovered == 0) {
    running_ = false;
    pcm_running_.store(false, std::memory_order_relaxed);
    played_ = committed_;  // whatever was queued is gone or played
    if (streams_playing || options_.policy == UnderrunPolicy::kSilence) {
      xruns_.fetch_add(1, std::memory_order_relaxed);
      Log(std::string(err == -ESTRPIPE ? "suspend" : "xrun") + " during " + during + ": recovered");
      Raise(kDeviceXrun);
    }
    return true;
  }
  // An unplugged card often shows first as an xrun whose recovery fails: the
  // recovery's error is the one that says what happened.
  const int cause = recovered < 0 ? recovered : err;
  {
    std::lock_guard<std::mutex> lock(log_mutex_);
    const bool lost = cause == -ENODEV || cause == -EBADFD || cause == -EIO || cause == -ENXIO;
    const std::string what = Disconnected()
                                 ? std::string("disconnected (the card was unplugged or its driver unbound), seen at ") + during
                                 : std::string(during) + " failed" +
                                       (cause != err ? std::string(" (") + snd_strerror(err) + ", then recovery failed)" : "");
    SetAlsaError(&fatal_, lost ? "E_DEVICE_LOST" : "E_ALSA_IO", cause, "PCM \"" + device_->name() + "\": " + what);
  }
  running_ = false;
  pcm_running_.store(false, std::memory_order_relaxed);
  failed_.store(true, std::memory_order_seq_cst);
  // The error before the streams' done: JS, collecting events meanwhile,
  // must not find the streams done first, since a device without streams
  // lets the process exit before its 'error' arrives.
  device_events_.fetch_or(kDeviceError, std::memory_order_acq_rel);
  RetireAll(StreamOutcome::kDeviceLost);
  Raise(kDeviceError);
  return false;
}

void PlaybackThread::Retire(size_t slot, StreamOutcome outcome) {
  StreamState* stream = slots_[slot].exchange(nullptr, std::memory_order_seq_cst);
  if (stream == nullptr) return;
  // The time ducked or paused up to now counts; the flags stay as they were.
  const int64_t spent = MonotonicNowNs() - stream->flip_ns;
  if (stream->ducked_now) stream->ducked_ns.fetch_add(spent, std::memory_order_relaxed);
  if (stream->paused_now) stream->paused_ns.fetch_add(spent, std::memory_order_relaxed);
  stream->outcome.store(static_cast<int>(outcome), std::memory_order_relaxed);
  stream->phase.store(static_cast<int>(StreamPhase::kRetired), std::memory_order_relaxed);
  // The last touch of the stream: once JS sees the done bit it may free it.
  // acq_rel publishes the outcome, the phase and the final counters with it.
  stream->events.fetch_or(kStreamDone, std::memory_order_acq_rel);
  // JS is told at the end of the pass (AnnounceRetired), after the pass has
  // stopped a device left idle: a file PCM writes its last buffer only when
  // stopped, so a stream's answer never comes before its frames are there.
  device_events_.fetch_or(kDeviceStreams, std::memory_order_acq_rel);
  retired_unannounced_ = true;
}

void PlaybackThread::RetireAll(StreamOutcome outcome) {
  for (size_t i = 0; i < kMaxStreams; ++i) Retire(i, outcome);
}

bool PlaybackThread::Wait(bool with_pcm, int timeout_ms) {
  AnnounceRetired();  // never held across a sleep
  bool pcm_error = false;
  waiting_.store(true, std::memory_order_seq_cst);
  if (!progress_.load(std::memory_order_seq_cst) && !stop_.load(std::memory_order_seq_cst)) {
    // Without with_pcm the PCM's descriptors ask for no events: poll still
    // reports POLLERR on them, and that is all a card's disconnect gives.
    for (size_t i = 1; i < pollfds_.size(); ++i) {
      pollfds_[i].events = with_pcm ? pcm_events_[i - 1] : 0;
      pollfds_[i].revents = 0;
    }
    pollfds_[0].revents = 0;
    const nfds_t n = with_pcm || watch_pcm_errors_ ? pollfds_.size() : 1;
    const int timeout = timeout_ms < 0 ? kLossCheckMs : std::min(timeout_ms, kLossCheckMs);
    const int rc = poll(pollfds_.data(), n, timeout);
    if (rc > 0 && n > 1) {
      const bool pcm_woke = std::any_of(pollfds_.begin() + 1, pollfds_.end(), [](const pollfd& p) { return p.revents != 0; });
      if (pcm_woke) {
        // Lets plugins (the clock sink) clear their descriptors and say what
        // the raw events mean.
        unsigned short revents = 0;
        snd_pcm_poll_descriptors_revents(device_->handle(), &pollfds_[1], static_cast<unsigned>(n - 1), &revents);
        pcm_error = (revents & (POLLERR | POLLNVAL)) != 0;
      }
    }
  }
  waiting_.store(false, std::memory_order_relaxed);
  uint64_t drained;
  (void)!read(wake_fd_, &drained, sizeof drained);
  // After the read: a write that lands later wakes the next poll at once,
  // which then finds the progress flag (never a lost wake, at worst a spare one).
  wake_sent_.store(false, std::memory_order_release);
  if (Disconnected()) return HandlePcmError(-ENODEV, "poll");
  // POLLERR on a running PCM is an xrun, which the next avail_update reports
  // and recovers. On a stopped one nothing else would ask: ask now, and if
  // it has nothing to say, stop listening to descriptors that cry wolf while
  // idle (the state check above still runs).
  if (pcm_error && !with_pcm && !running_) {
    const snd_pcm_sframes_t avail = snd_pcm_avail_update(device_->handle());
    if (avail < 0) return HandlePcmError(static_cast<int>(avail), "avail_update");
    watch_pcm_errors_ = false;
  }
  return true;
}

bool PlaybackThread::Disconnected() const { return snd_pcm_state(device_->handle()) == SND_PCM_STATE_DISCONNECTED; }

}  // namespace speakerd
