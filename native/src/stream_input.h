// The producing end of one stream, on the JS thread: request-body frames, in
// the format the client sent, go into the stream's ring in the device's
// format, in one pass over the bytes.
//
//   socket Buffer → [decoder] → converter → ring → playback thread
//
// PCM bodies arrive as frames (WAV's header is parsed in JS) and are written
// here on the JS thread. A compressed body's decode thread (decode_thread.h)
// owns the stream's StreamInput instead and writes its decoded frames here
// on that thread; Write's "how much did you take" is its backpressure too.
//
// Whether frames need converting is decided here, once per stream: frames
// already in the device's format are copied into the ring as they are.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "clock_lock.h"
#include "converter.h"
#include "device_error.h"
#include "ring_frame_sink.h"
#include "stream_ring.h"

namespace speakerd {

class StreamInput {
 public:
  // Until SetFormat, input is taken to be in the device's format. A timed
  // stream's input has a clock lock: its frames always go through a
  // resampler, steered block by block (clock_lock.h).
  StreamInput(StreamRing* ring, const AudioFormat& device, std::unique_ptr<ClockLock> lock = nullptr);

  // The format of the frames to come; only before the first Write. False,
  // with *error set, for a format the converter does not take.
  bool SetFormat(const AudioFormat& from, int quality, DeviceError* error);

  size_t input_frame_bytes() const { return input_frame_bytes_; }
  bool converts() const { return converter_ != nullptr; }

  // Takes whole input frames from `in`, as many as the ring has room for
  // (after what an earlier write held aside), and returns how many. 0 means
  // the ring is full: wait for room.
  size_t Write(const uint8_t* in, size_t frames);

  // Ends the input: the resampler's tail, and anything held aside, go into
  // the ring. True once all of it is there; false means wait for room and
  // call again.
  bool Finish();

  // Native memory beyond the ring (converter scratch, what is held aside).
  size_t memory_bytes() const;

 private:
  StreamRing* ring_;
  AudioFormat device_;
  RingFrameSink sink_;
  std::unique_ptr<Converter> converter_;
  std::unique_ptr<ClockLock> lock_;
  bool steered_ = false;
  uint64_t next_steer_ = 0;  // the output frame after which the lock steers again
  size_t input_frame_bytes_;
  bool flushed_ = false;
};

}  // namespace speakerd
