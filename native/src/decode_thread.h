// A compressed stream's producing end: the body's bytes go from the JS
// thread into a byte ring, and a thread of the stream's own decodes them
// and converts the PCM into the stream's ring. Decoding thus runs on
// neither the JS thread nor the playback thread (docs/decisions.md,
// "Compressed audio").
//
//   JS write() → input ring (bytes) → decode thread: codec → StreamInput
//   (converter) → stream ring → playback thread
//
// Both waits of the decode thread (for body bytes, for room in the stream
// ring) sleep on one eventfd, which the JS thread signals on every write,
// end and stop, and the playback thread when a short write's room is back
// (StreamState::room_wake_fd). The JS side learns of room in the input
// ring through the stream's 'drain' event, as for PCM.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include <pthread.h>

#include "audio_decoder.h"
#include "decode_slots.h"
#include "playback_thread.h"
#include "stream_input.h"
#include "stream_ring.h"
#include "stream_state.h"

namespace speakerd {

// What the decode thread found, for the stream's result and listings.
struct DecodeSummary {
  Codec codec;
  bool format_known = false;
  AudioFormat format{};     // the decoded audio's (source) format
  uint64_t frames = 0;      // decoded frames at the source rate, after any cut
  bool too_long = false;    // stopped at the length limit
  DecodeReport report;
};

class DecodeThread final : private ByteSource, private PcmSink {
 public:
  struct Options {
    Codec codec;
    int quality;
    double max_seconds;  // decoded audio beyond this is not played (too_long)
    size_t input_bytes;  // the input ring's size
    unsigned device_rate;
    snd_pcm_format_t device_format;
  };

  // Starts the thread. `input` becomes the thread's; `playback` must outlive
  // this object (the device keeps it until every stream is detached).
  DecodeThread(std::shared_ptr<StreamState> state, std::unique_ptr<StreamInput> input, PlaybackThread* playback,
               const Options& options);
  // Stops and joins the thread.
  ~DecodeThread() override;

  DecodeThread(const DecodeThread&) = delete;
  DecodeThread& operator=(const DecodeThread&) = delete;

  // JS thread. Copies as many bytes as the input ring has room for and
  // returns how many; a short write raises 'drain' once half the ring is free.
  size_t Write(const uint8_t* bytes, size_t count);
  // JS thread: the body has ended.
  void EndInput();
  // Any thread: stop decoding as soon as possible (the stream was aborted
  // or its device is closing). Does not wait.
  void Stop();
  // JS thread: Stop(), and wait for the thread to end. After it, Summary()
  // is final.
  void Join();
  // JS thread: true once the thread has ended (and is joined); never waits.
  // A thread that is done decoding may still be on its way out, and at
  // nice 10 behind other threads: joining it then held the JS thread 2 ms
  // at a time with 8 unpaced decodes.
  bool TryJoin();

  // Frames decoded so far, at the device's rate (written into the ring):
  // what a stream's progress is judged by.
  uint64_t queued_frames() const { return queued_frames_.load(std::memory_order_relaxed); }
  // A consistent copy, for listings and the result.
  DecodeSummary Summary() const;

 private:
  void Run();
  size_t Read(uint8_t* dst, size_t max) override;
  bool Emit(const AudioFormat& format, const uint8_t* frames, size_t count) override;
  // Queues frames already in the input format; false when stopping.
  bool Queue(const uint8_t* frames, size_t count);
  bool FinishInput();
  // Tells the playback thread of frames queued: a wake when it may wait
  // for them (`blocked`: this thread waits for room), else a mark.
  void WakePlayback(bool blocked);
  // Sleeps until the eventfd is signalled.
  void Sleep();
  void Signal();
  bool stopping() const { return stop_.load(std::memory_order_acquire); }

  const std::shared_ptr<StreamState> state_;
  const std::unique_ptr<StreamInput> input_;
  PlaybackThread* const playback_;
  const Options options_;
  const std::unique_ptr<AudioDecoder> decoder_;
  StreamRing input_ring_;  // bytes: frame size 1
  int wake_fd_ = -1;
  DecodeSlots& slots_ = DecodeSlots::Shared();
  DecodeSlots::Hold hold_;  // the decode thread's own

  // Written by the JS thread.
  std::atomic<bool> input_ended_{false};
  std::atomic<bool> input_wants_drain_{false};
  std::atomic<bool> stop_{false};

  // Written by the decode thread.
  std::atomic<uint64_t> queued_frames_{0};
  mutable std::mutex summary_mutex_;
  DecodeSummary summary_;  // under summary_mutex_
  size_t max_frames_ = 0;  // at the source rate, once the format is known
  bool unannounced_ = false;  // frames queued with a mark but no wake

  pthread_t thread_{};  // started last, once everything above is set up
  bool joined_ = false;
};

}  // namespace speakerd
