// The playback thread of one device: a std::thread that owns the PCM while it
// runs, mixes every attached stream's ring straight into the mmap area, and
// never touches JS. It tells the JS side about events by setting bits and
// calling `notify`, which must be cheap, thread-safe and lock-free (a
// LoopWake's Send); the JS side then collects them.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>

#include "device_clock.h"
#include "device_error.h"
#include "gain_ramp.h"
#include "mixer.h"
#include "pcm_device.h"
#include "stream_state.h"
#include "system_clocks.h"

namespace speakerd {

// What the thread does when a playing stream has no frames (design §2).
enum class UnderrunPolicy {
  kSilence,  // keep the device fed with silence; for sound cards and the clock sink
  kWait,     // never invent samples; wait for the streams; for unpaced PCMs
};

struct PlaybackOptions {
  UnderrunPolicy policy = UnderrunPolicy::kSilence;
  unsigned idle_ms = 5000;  // silence policy: how long an idle device keeps running
  bool realtime = true;     // try SCHED_FIFO
  // Playback control (design §2b).
  float duck_gain = 0.1f;    // what a higher class playing leaves of a lower one, linear
  unsigned duck_ramp_ms = 50;
  unsigned fade_ms = 20;     // pause, resume and cuts
  float master_gain = 1.0f;  // the software master volume at open, linear
};

// How long a client's change of gain, and of the master volume, ramps.
constexpr unsigned kGainRampMs = 20;

// Bits for PlaybackThread::TakeDeviceEvents().
enum DeviceEvent : uint32_t {
  kDeviceXrun = 1u << 0,
  kDeviceError = 1u << 1,  // the thread stopped on an error it cannot recover from
  kDeviceLog = 1u << 2,
  kDeviceStreams = 1u << 3,  // some stream has events
};

class PlaybackThread {
 public:
  // MAX_STREAMS (at most 64) playing, and as many queue followers waiting
  // for their predecessors to finish.
  static constexpr size_t kMaxStreams = 128;

  PlaybackThread(std::unique_ptr<PcmDevice> device, PlaybackOptions options, std::function<void()> notify);
  ~PlaybackThread();
  PlaybackThread(const PlaybackThread&) = delete;
  PlaybackThread& operator=(const PlaybackThread&) = delete;

  void Start();
  // Stops and joins the thread. The PCM stays open until destruction.
  void Stop();
  bool running() const { return thread_.joinable(); }

  enum class AttachResult { kAttached, kFull, kDeviceFailed };
  // JS thread: hands a stream to the playback thread. The stream must stay
  // alive until it is retired or Stop() returns. kFull when every slot is
  // taken, kDeviceFailed once the thread has stopped on a fatal error (the
  // stream was not attached).
  AttachResult Attach(StreamState* stream);
  // JS thread: after writing, ending or aborting a stream. Wakes the thread
  // only if it sleeps waiting for producers.
  void ProducerProgress();
  // JS thread: the same without the wake, which must then follow before the
  // JS thread next waits (TurnEndWakes). A thread still awake sees the mark
  // and makes another pass instead of sleeping.
  void NoteProgress();
  // A stream's producer thread (a decode thread): tells JS of a stream event
  // ('drain' of its input) through the device's one event channel.
  void RaiseFromProducer(StreamState* stream, uint32_t stream_event);
  // Any thread: the software master volume, linear; it ramps over kGainRampMs.
  void SetMasterGain(float gain) { master_target_.store(gain, std::memory_order_relaxed); }

  const PcmDevice& device() const { return *device_; }
  uint32_t TakeDeviceEvents() { return device_events_.exchange(0, std::memory_order_acq_rel); }
  // Takes only the bits in `mask`, leaving the others for the next take.
  uint32_t TakeDeviceEvents(uint32_t mask) { return device_events_.fetch_and(~mask, std::memory_order_acq_rel) & mask; }
  std::vector<std::string> TakeLog();
  DeviceError fatal_error();

  uint64_t frames_committed() const { return frames_committed_.load(std::memory_order_relaxed); }
  uint64_t xruns() const { return xruns_.load(std::memory_order_relaxed); }
  // Times a producer woke the sleeping thread (what TurnEndWakes saves).
  uint64_t producer_wakes() const { return producer_wakes_.load(std::memory_order_relaxed); }
  // When frames reach the DAC, by the device's status reports; any thread.
  ClockLine clock_line() const { return clock_.Line(); }
  const DeviceClock& clock() const { return clock_; }
  // -1 not tried yet, 0 refused, 1 granted.
  int realtime() const { return realtime_.load(std::memory_order_relaxed); }
  bool pcm_running() const { return pcm_running_.load(std::memory_order_relaxed); }
  // The thread stopped on an error it cannot recover from (fatal_error()).
  bool failed() const { return failed_.load(std::memory_order_acquire); }

 private:
  void Run();
  void TrySchedFifo();
  // One pass of the loop; false when the thread must exit.
  bool Step();
  void AdvanceStreams(snd_pcm_sframes_t avail);
  // A timed stream (design §2c): places its first frame on the device clock's
  // line, refines that while the start is more than a buffer away, and
  // starts it on that frame. Returns the frames until its start (0: started
  // or not placed yet).
  size_t PlaceTimed(StreamState* stream);
  // A playing timed stream: drops what a gap, a pause or a late start left
  // behind, so that its frame k plays on device frame start + k; places it
  // again when the device's timeline restarted.
  void KeepOnTime(StreamState* stream);
  // The device position the timed stream's frame 0 belongs to, by `line`.
  int64_t StartPosition(const StreamState* stream, const ClockLine& line) const;
  // The frames of a stream that may be mixed now.
  size_t Mixable(StreamState* stream) const;
  // Whether the stream with this id is still buffering or playing.
  bool Unfinished(uint32_t id) const;
  // Decides each playing stream's level for the next chunk: the client's
  // gain and pause, the duck or pre-emption by a higher class, a cut.
  void SteerStreams();
  // Publishes a stream's duck and pause as they flip, with the time spent in each.
  void NoteFlips(StreamState* stream, bool ducked, bool paused, int64_t now);
  int MixAndCommit(size_t frames);
  void MixInto(uint8_t* dst, size_t frames);
  bool StartPcm();
  void StopPcm();
  // Feeds the device's status report (its pointer's time and the delay) to clock_.
  void ObserveClock();
  bool HandlePcmError(int err, const char* during);
  // Takes the stream out of its slot and hands it back to JS; nothing if the
  // slot was emptied meanwhile (Attach withdrawing from a failed device).
  void Retire(size_t slot, StreamOutcome outcome);
  void RetireAll(StreamOutcome outcome);
  // Sleeps until a producer makes progress, the PCM wants frames (with_pcm),
  // Stop(), the PCM reports an error, or timeout_ms (-1: none). False when
  // the device turned out to be gone (the thread must exit).
  bool Wait(bool with_pcm, int timeout_ms);
  // A card that is unplugged or whose driver is unbound answers no errno:
  // alsa-lib reports SND_PCM_STATE_DISCONNECTED and POLLERR instead.
  bool Disconnected() const;
  void Log(std::string line);
  void Raise(uint32_t device_event);
  // Tells JS about the streams retired since the last notification.
  void AnnounceRetired();
  void RaiseStream(StreamState* stream, uint32_t stream_event);

  std::unique_ptr<PcmDevice> device_;
  const PlaybackOptions options_;
  const std::function<void()> notify_;
  Mixer mixer_;
  DeviceClock clock_;
  const LevelSettings level_settings_;
  std::atomic<float> master_target_;
  std::thread thread_;
  int wake_fd_ = -1;

  std::atomic<StreamState*> slots_[kMaxStreams] = {};
  std::atomic<bool> stop_{false};
  // Dekker pair: the thread announces it sleeps, producers announce progress;
  // with seq_cst on both sides at least one of them sees the other.
  std::atomic<bool> waiting_{false};
  std::atomic<bool> progress_{false};
  std::atomic<bool> wake_sent_{false};  // an eventfd write is on its way to this sleep

  std::atomic<uint32_t> device_events_{0};
  std::atomic<uint64_t> frames_committed_{0};
  std::atomic<uint64_t> xruns_{0};
  std::atomic<uint64_t> producer_wakes_{0};
  std::atomic<int> realtime_{-1};
  std::atomic<bool> pcm_running_{false};
  // Set before the streams are retired on a fatal error; Attach checks it
  // after taking a slot, so that no stream is left in a slot nobody serves.
  std::atomic<bool> failed_{false};

  std::mutex log_mutex_;  // guards log_ and fatal_; both are rare
  std::vector<std::string> log_;
  DeviceError fatal_;

  // Playback thread only.
  GainRamp master_;
  std::vector<float> gains_;         // a stream's level per frame of a chunk
  std::vector<float> master_gains_;  // the master volume's, while it moves
  uint64_t committed_ = 0;  // frames committed since open
  uint64_t played_ = 0;     // frames the device has consumed, as far as known
  bool running_ = false;
  int64_t idle_since_ns_ = 0;
  bool retired_unannounced_ = false;  // done bits set, JS not notified yet
  std::vector<pollfd> pollfds_;  // the wake eventfd, then the PCM's descriptors
  std::vector<short> pcm_events_;  // what the PCM's descriptors wait for when frames are wanted
  // Whether the PCM's descriptors are polled for errors while no frames are
  // wanted; off for a PCM whose descriptors report errors while it is idle
  // and connected, which would otherwise wake the thread in a loop.
  bool watch_pcm_errors_ = true;
};


}  // namespace speakerd
