// Stress test of speakerd::StreamRing with a real producer thread and a real
// consumer thread, meant to run under ThreadSanitizer and AddressSanitizer.
//
// The producer writes a deterministic sequence of frames in random-sized
// chunks; the consumer takes random-sized Peek/Consume runs (sometimes
// consuming only part of what it peeked, sometimes peeking again without a
// fresh Readable()) and checks every byte of every frame against the
// sequence. Small capacities and frame sizes that are not powers of two keep
// the indices wrapping constantly.
//
// Usage: ring_stress SEED [FRAMES_PER_SHAPE]
// Prints the seed and the frame count; exits 1 on any mismatch.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "stream_ring.h"

namespace {

using speakerd::StreamRing;

// A ring shape to stress. Capacities that are not powers of two check that
// the ring rounds them up and still wraps correctly.
struct RingShape {
  size_t capacity_frames;
  size_t frame_bytes;
};

constexpr RingShape kShapes[] = {
    {1, 6}, {2, 6}, {3, 6}, {4, 1}, {5, 3}, {8, 6}, {16, 4}, {33, 7}, {64, 12}, {1000, 6},
};

// The byte at `offset` of frame `index` in a sequence. Mixing the seed in
// means a frame from a different run, or a stale frame from a previous lap
// of the ring, does not match by accident.
uint8_t ExpectedByte(uint64_t seed, uint64_t index, size_t offset) {
  uint64_t x = seed ^ (index * 0x9E3779B97F4A7C15ull) ^ (static_cast<uint64_t>(offset) << 56);
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  return static_cast<uint8_t>(x ^ (x >> 17) ^ (x >> 41));
}

// Set by whichever thread fails, so that the other one stops instead of
// waiting forever for progress.
std::atomic<bool> g_failed{false};

void Fail(const std::string& what) {
  if (!g_failed.exchange(true)) std::fprintf(stderr, "ring_stress: MISMATCH: %s\n", what.c_str());
}

void Produce(StreamRing& ring, uint64_t seed, uint64_t total_frames, uint64_t rng_seed) {
  std::mt19937_64 rng(rng_seed);
  const size_t frame_bytes = ring.frame_bytes();
  // Chunks up to twice the capacity, so that many writes come back short.
  std::uniform_int_distribution<size_t> chunk_frames(1, ring.capacity() * 2);
  std::vector<uint8_t> chunk;
  uint64_t next = 0;
  while (next < total_frames && !g_failed.load(std::memory_order_relaxed)) {
    const size_t frames = static_cast<size_t>(std::min<uint64_t>(chunk_frames(rng), total_frames - next));
    chunk.resize(frames * frame_bytes);
    for (size_t f = 0; f < frames; ++f) {
      for (size_t b = 0; b < frame_bytes; ++b) chunk[f * frame_bytes + b] = ExpectedByte(seed, next + f, b);
    }
    size_t done = 0;
    while (done < frames && !g_failed.load(std::memory_order_relaxed)) {
      if (rng() % 8 == 0) {
        const size_t writable = ring.Writable();
        if (writable > ring.capacity()) Fail("Writable() " + std::to_string(writable) + " exceeds the capacity");
      }
      const size_t wrote = ring.Write(chunk.data() + done * frame_bytes, frames - done);
      if (wrote > frames - done) Fail("Write() claims more frames than it was given");
      done += wrote;
      if (wrote == 0) std::this_thread::yield();
    }
    next += frames;
  }
}

void Consume(StreamRing& ring, uint64_t seed, uint64_t total_frames, uint64_t rng_seed) {
  std::mt19937_64 rng(rng_seed);
  const size_t frame_bytes = ring.frame_bytes();
  std::uniform_int_distribution<size_t> run_frames(1, ring.capacity() * 2);
  uint64_t next = 0;        // index of the next frame the ring must hand out
  size_t known_ready = 0;   // frames the last Readable() promised, minus those consumed since
  while (next < total_frames && !g_failed.load(std::memory_order_relaxed)) {
    // Usually refresh the view of the producer; sometimes keep peeking with
    // the stale one, which Peek() must honour without handing out more.
    if (known_ready == 0 || rng() % 4 != 0) {
      known_ready = ring.Readable();
      if (known_ready > ring.capacity()) {
        Fail("Readable() " + std::to_string(known_ready) + " exceeds the capacity");
        return;
      }
    }
    if (known_ready == 0) {
      std::this_thread::yield();
      continue;
    }
    const size_t wanted = run_frames(rng);
    const StreamRing::Regions regions = ring.Peek(wanted);
    const size_t expected_frames = std::min(wanted, known_ready);
    if (regions.frames() != expected_frames) {
      Fail("Peek(" + std::to_string(wanted) + ") gave " + std::to_string(regions.frames()) + " frames with " +
           std::to_string(known_ready) + " readable");
      return;
    }
    // The first run starts at the tail's slot and stops at the end of the
    // buffer; only then does the second run start, at the buffer's start.
    const size_t tail_slot = static_cast<size_t>(next % ring.capacity());
    const uint8_t* buffer_start = regions.first - tail_slot * frame_bytes;
    if (regions.first_frames != std::min(expected_frames, ring.capacity() - tail_slot) ||
        (regions.second_frames > 0 && regions.second != buffer_start)) {
      Fail("Peek() split at slot " + std::to_string(tail_slot) + " is wrong: " +
           std::to_string(regions.first_frames) + " + " + std::to_string(regions.second_frames) + " frames");
      return;
    }
    // Check every byte of both runs against the sequence.
    for (size_t f = 0; f < regions.frames(); ++f) {
      const uint8_t* frame = f < regions.first_frames ? regions.first + f * frame_bytes
                                                      : regions.second + (f - regions.first_frames) * frame_bytes;
      for (size_t b = 0; b < frame_bytes; ++b) {
        const uint8_t want = ExpectedByte(seed, next + f, b);
        if (frame[b] != want) {
          char text[160];
          std::snprintf(text, sizeof text, "frame %" PRIu64 " byte %zu: got 0x%02x, want 0x%02x (%s region)",
                        next + f, b, frame[b], want, f < regions.first_frames ? "first" : "second");
          Fail(text);
          return;
        }
      }
    }
    // Sometimes consume only part of the run: the rest must be handed out
    // again, unchanged, by the next Peek().
    const size_t consumed = rng() % 3 == 0 ? rng() % (regions.frames() + 1) : regions.frames();
    ring.Consume(consumed);
    next += consumed;
    known_ready -= consumed;
  }
}

// Runs one producer and one consumer over a fresh ring; false on mismatch.
bool StressShape(const RingShape& shape, uint64_t seed, uint64_t frames) {
  StreamRing ring(shape.capacity_frames, shape.frame_bytes);
  if (ring.capacity() < shape.capacity_frames || (ring.capacity() & (ring.capacity() - 1)) != 0) {
    Fail("capacity " + std::to_string(shape.capacity_frames) + " was rounded to " + std::to_string(ring.capacity()));
    return false;
  }
  // Distinct streams of randomness per side and per shape, all from one seed.
  const uint64_t shape_seed = seed * 1000003u + shape.capacity_frames * 131u + shape.frame_bytes;
  std::thread producer(Produce, std::ref(ring), shape_seed, frames, shape_seed + 1);
  std::thread consumer(Consume, std::ref(ring), shape_seed, frames, shape_seed + 2);
  producer.join();
  consumer.join();
  if (!g_failed.load() && ring.Fill() != 0) Fail("the ring is not empty after every frame was consumed");
  return !g_failed.load();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s SEED [FRAMES_PER_SHAPE]\n", argv[0]);
    return 2;
  }
  const uint64_t seed = std::strtoull(argv[1], nullptr, 0);
  const uint64_t frames_per_shape = argc > 2 ? std::strtoull(argv[2], nullptr, 0) : 200000;
  // Printed first, so that even a hang names the seed that replays it.
  std::printf("ring_stress: seed=%" PRIu64 " frames_per_shape=%" PRIu64 " starting\n", seed, frames_per_shape);
  std::fflush(stdout);
  const auto started = std::chrono::steady_clock::now();
  uint64_t total = 0;
  for (const RingShape& shape : kShapes) {
    if (!StressShape(shape, seed, frames_per_shape)) {
      std::fprintf(stderr, "ring_stress: FAIL seed=%" PRIu64 " capacity=%zu frame_bytes=%zu\n", seed,
                   shape.capacity_frames, shape.frame_bytes);
      return 1;
    }
    total += frames_per_shape;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("ring_stress: seed=%" PRIu64 " shapes=%zu frames=%" PRIu64 " verified in %.2f s\n", seed,
              sizeof kShapes / sizeof kShapes[0], total, seconds);
  return 0;
}
