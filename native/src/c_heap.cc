#include "c_heap.h"

#include <malloc.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>

namespace speakerd {
namespace {

constexpr int kMallocThreshold = 128 * 1024;  // glibc's default for both

// The bytes malloc has handed out and not had back, in every arena. RSS
// cannot show a leak of a few KiB per object: arenas, fragmentation and V8's
// heap move it by megabytes. This count moves only with what is allocated,
// so a leak test can compare before and after exactly.
Napi::Value MallocBytesInUse(const Napi::CallbackInfo& info) {
  const struct mallinfo2 usage = mallinfo2();
  return Napi::Number::New(info.Env(), static_cast<double>(usage.uordblks + usage.hblkhd));
}

// The process's resident set in bytes, from /proc/self/statm; 0 if unreadable.
double ResidentBytes() {
  FILE* statm = std::fopen("/proc/self/statm", "r");
  if (statm == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  const bool read = std::fscanf(statm, "%lu %lu", &size, &resident) == 2;
  std::fclose(statm);
  return read ? static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) : 0;
}

double MonotonicMs() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
}

// On a libuv pool thread: malloc_trim holds each arena's lock while it walks
// that arena's free chunks, 1–3 ms after an upload here, which the JS
// thread must not spend. Threads that allocate meanwhile wait on the lock,
// so the service calls it only when nothing plays.
class TrimWorker : public Napi::AsyncWorker {
 public:
  explicit TrimWorker(Napi::Env env)
      : Napi::AsyncWorker(env, "speakerd heap trim"), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    const double start = MonotonicMs();
    rss_before_ = ResidentBytes();
    malloc_trim(0);
    rss_after_ = ResidentBytes();
    ms_ = MonotonicMs() - start;
  }
  void OnOK() override {
    Napi::Object result = Napi::Object::New(Env());
    result.Set("rssBefore", rss_before_);
    result.Set("rssAfter", rss_after_);
    result.Set("ms", ms_);
    deferred_.Resolve(result);
  }

 private:
  Napi::Promise::Deferred deferred_;
  double rss_before_ = 0;
  double rss_after_ = 0;
  double ms_ = 0;
};

Napi::Value ReturnFreeHeap(const Napi::CallbackInfo& info) {
  auto* worker = new TrimWorker(info.Env());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void InitCHeap(Napi::Env env, Napi::Object exports) {
  // glibc raises its mmap threshold to the size of each large block freed
  // (up to 32 MiB), and its trim threshold to twice that: after the first
  // free of a few MiB, blocks that size come from the arenas, and a helper
  // arena keeps up to twice that size of touched pages on top of its heap,
  // which malloc_trim does not reach (it trims only the main arena's top).
  // Set, both stay at glibc's defaults, 128 KiB (Node may have raised them
  // while it started). What the service allocates per chunk is smaller
  // (64 KiB body chunks); blocks above it are per stream (rings, converter
  // buffers), and an mmap each costs nothing that matters.
  mallopt(M_MMAP_THRESHOLD, kMallocThreshold);
  mallopt(M_TRIM_THRESHOLD, kMallocThreshold);
  exports.Set("mallocBytesInUse", Napi::Function::New(env, MallocBytesInUse));
  exports.Set("returnFreeHeap", Napi::Function::New(env, ReturnFreeHeap));
}

}  // namespace speakerd
