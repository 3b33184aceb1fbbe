// What one stream shares between the JS thread, which produces its frames,
// and the playback thread, which consumes and retires it. Fields are grouped
// by the side that writes them; the other side only reads.
#pragma once

#include <atomic>
#include <cstdint>

#include "stream_ring.h"

namespace speakerd {

enum class StreamPhase : int {
  kBuffering,  // attached, waiting for a period of frames (or the end) before it plays
  kPlaying,    // mixed into every chunk
  kFinishing,  // all frames committed; waiting for the device to play them out
  kRetired,    // out of its slot; the JS side may free it once it sees kStreamDone
};

enum class StreamOutcome : int { kNone, kPlayed, kAborted, kDeviceLost, kClosed };

// Bits in StreamState::events, collected by the JS side.
enum StreamEvent : uint32_t {
  kStreamDrain = 1u << 0,     // the ring has room again after a partial write
  kStreamUnderrun = 1u << 1,  // the ring ran dry while playing; silence was mixed in
  kStreamDone = 1u << 2,      // retired; see outcome. The playback thread's last touch of the stream
};

struct StreamState {
  StreamState(uint32_t stream_id, size_t ring_frames, size_t frame_bytes, float initial_gain)
      : id(stream_id), ring(ring_frames, frame_bytes), gain(initial_gain) {}

  const uint32_t id;
  StreamRing ring;
  std::atomic<float> gain;

  // Written by the JS thread.
  std::atomic<bool> ended{false};        // no more frames will come
  std::atomic<bool> aborted{false};      // stop now, drop what is buffered
  std::atomic<bool> wants_drain{false};  // a write came back short
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

  // Playback thread only.
  bool dry = false;
  uint64_t chunk_frames = 0;  // what the chunk being committed took from this stream
  uint64_t end_position = 0;  // device position after this stream's last frame

  StreamPhase Phase() const { return static_cast<StreamPhase>(phase.load(std::memory_order_acquire)); }
};

}  // namespace speakerd
