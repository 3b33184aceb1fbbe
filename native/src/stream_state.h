// What one stream shares between the JS thread, which produces its frames,
// and the playback thread, which consumes and retires it. Fields are grouped
// by the side that writes them; the other side only reads.
#pragma once

#include <atomic>
#include <cstdint>

#include "stream_level.h"
#include "stream_ring.h"

namespace speakerd {

enum class StreamPhase : int {
  kBuffering,  // attached, waiting for a period of frames (or the end) before it plays
  kPlaying,    // mixed into every chunk
  kFinishing,  // all frames committed; waiting for the device to play them out
  kRetired,    // out of its slot; the JS side may free it once it sees kStreamDone
};

enum class StreamOutcome : int { kNone, kPlayed, kAborted, kDeviceLost, kClosed };

// Priority classes (design §2b), lowest first: while a stream of a higher
// class plays, lower ones are ducked, or paused under an alarm.
enum class StreamClass : int { kBackground, kNormal, kAnnouncement, kAlarm };

// Bits in StreamState::events, collected by the JS side.
enum StreamEvent : uint32_t {
  kStreamDrain = 1u << 0,     // the ring has room again after a partial write
  kStreamUnderrun = 1u << 1,  // the ring ran dry while playing; silence was mixed in
  kStreamDone = 1u << 2,      // retired; see outcome. The playback thread's last touch of the stream
  kStreamStarted = 1u << 3,   // its first frame was committed
  kStreamLevel = 1u << 4,     // ducked, unducked, paused or resumed (see the counters)
};

// StreamState::start_published before a timed stream is placed.
constexpr int64_t kUnplaced = INT64_MIN;

// How a stream is created: fixed before it is attached.
struct StreamSetup {
  float gain = 1.0f;
  StreamClass priority = StreamClass::kNormal;
  // The stream this one follows in its queue (its id; 0: none): it is not
  // mixed while that one is still buffering or playing, and then starts in
  // the very chunk after its last frame.
  uint32_t follows = 0;
  // A timed stream (design §2c): the CLOCK_MONOTONIC time its first frame
  // must reach the DAC; 0: untimed. Its frame k then belongs to the device
  // frame that plays k frames later, whatever happens in between.
  int64_t at_ns = 0;
  // A timed stream whose start has passed by the time it is placed starts
  // at once (true), or at the frame that belongs to now (false: skip).
  bool late_play = false;
};

struct StreamState {
  StreamState(uint32_t stream_id, size_t ring_frames, size_t frame_bytes, const StreamSetup& setup)
      : id(stream_id),
        priority(setup.priority),
        follows(setup.follows),
        at_ns(setup.at_ns),
        late_play(setup.late_play),
        ring(ring_frames, frame_bytes),
        gain(setup.gain),
        level(setup.gain) {}
  StreamState(uint32_t stream_id, size_t ring_frames, size_t frame_bytes, float gain)
      : StreamState(stream_id, ring_frames, frame_bytes, StreamSetup{gain}) {}

  const uint32_t id;
  const StreamClass priority;
  const uint32_t follows;
  const int64_t at_ns;
  const bool late_play;
  StreamRing ring;
  std::atomic<float> gain;  // the client's, linear; a change ramps (JS writes it)

  // Written by the JS thread.
  std::atomic<bool> ended{false};        // no more frames will come
  std::atomic<bool> aborted{false};      // stop now, drop what is buffered
  std::atomic<bool> wants_drain{false};  // a write came back short
  std::atomic<bool> paused{false};       // by its client (PATCH)
  std::atomic<bool> cut{false};          // stop after a fade (DELETE, shutdown, client gone)
  // Its producer will end it at a length cap: the last frames fade out.
  // Set before the last frames are written; until `ended`, the thread keeps
  // a fade's worth of frames back.
  std::atomic<bool> fade_tail{false};
  std::atomic<int64_t> first_write_ns{0};
  // A compressed stream's decode thread (decode_thread.h) produces instead
  // of JS: room after a short write wakes this eventfd, not a 'drain'.
  std::atomic<int> room_wake_fd{-1};

  // Written by the playback thread.
  std::atomic<int> phase{static_cast<int>(StreamPhase::kBuffering)};
  std::atomic<int> outcome{static_cast<int>(StreamOutcome::kNone)};
  std::atomic<uint32_t> events{0};
  std::atomic<uint64_t> frames_played{0};  // committed to the device from this stream
  std::atomic<uint32_t> underruns{0};
  std::atomic<int64_t> first_commit_ns{0};
  // Each flip of the duck or the pause is counted: JS, which may see
  // several at once, tells them apart by parity (odd: ducked, paused).
  std::atomic<uint32_t> duck_flips{0};
  std::atomic<uint32_t> pause_flips{0};
  std::atomic<float> current_level{1.0f};  // the level of the last frame mixed, linear
  // Time spent ducked and paused, CLOCK_MONOTONIC ns, up to the last flip.
  std::atomic<int64_t> ducked_ns{0};
  std::atomic<int64_t> paused_ns{0};
  // A timed stream: when its first frame reaches (or reached) the DAC, by
  // the device clock (CLOCK_MONOTONIC ns; 0 until placed), and the frames
  // dropped to stay on time (a late start, a gap, a pause).
  std::atomic<int64_t> start_ns{0};
  std::atomic<uint64_t> frames_skipped{0};
  // The device position its ring frame 0 plays on, for the producer's clock
  // lock (clock_lock.h): start_position, published.
  std::atomic<int64_t> start_published{kUnplaced};

  // Written by the producer's clock lock: how much later than its content's
  // time the last frame converted will play, in ns.
  std::atomic<double> sync_error_ns{0};
  // Written by the producer's clock lock when it converted all it may for
  // now: its producer is woken for room no sooner than this
  // (CLOCK_MONOTONIC ns), or it would be woken, write nothing and wake the
  // playback thread again, at once, until then.
  std::atomic<int64_t> convert_at_ns{0};

  // Playback thread only.
  StreamLevel level;
  bool held = false;  // follows a stream that has not finished yet
  bool ducked_now = false;
  bool paused_now = false;
  int64_t flip_ns = 0;  // when the duck or pause last flipped
  bool dry = false;
  uint64_t chunk_frames = 0;  // what the chunk being committed took from this stream
  uint64_t end_position = 0;  // device position after this stream's last frame
  // A timed stream: the device position its ring frame 0 belongs to (frames
  // since open; below the position written when it started late), once
  // placed by the device clock, and the ring frames mixed or dropped so far.
  bool placed = false;
  int64_t start_position = 0;
  uint32_t placed_generation = 0;  // of the device clock's line it was placed by
  uint64_t ring_index = 0;

  bool timed() const { return at_ns != 0; }

  StreamPhase Phase() const { return static_cast<StreamPhase>(phase.load(std::memory_order_acquire)); }
};

}  // namespace speakerd
