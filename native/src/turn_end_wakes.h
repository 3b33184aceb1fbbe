// Wakes playback threads once per turn of the JS event loop instead of once
// per write.
//
// Waking a thread that sleeps (on the other core, as a rule) is the dearest
// thing a write does: at full ingest into a PCM that takes frames at once,
// the playback thread empties the ring after every write and sleeps again,
// and the eventfd write that woke it was 20 % of the whole process's samples
// (26 % of the JS thread's), with the thread's own poll and wake-up another
// 0.6 CPU s per GiB. A socket read is written as it arrives (64 KiB), and
// one turn of the loop parses several: their frames can wait for one wake
// at the end of the turn, before the loop next sleeps. A uv_prepare handle
// runs exactly there, whatever phase the writes came from.
#ifndef SPEAKERD_TURN_END_WAKES_H_
#define SPEAKERD_TURN_END_WAKES_H_

#include <node_api.h>
#include <uv.h>

#include <vector>

namespace speakerd {

class PlaybackThread;

class TurnEndWakes {
 public:
  // One per env, made when the addon loads, so that its cleanup runs after
  // every device's (cleanup hooks run in reverse order of registration). It
  // frees itself when the env is torn down.
  static TurnEndWakes* Create(napi_env env);

  // JS thread: wake `thread`, if it sleeps waiting for producers, before the
  // event loop next waits. Its progress mark must already be set.
  void Add(PlaybackThread* thread);
  // JS thread: forget a thread that is about to stop.
  void Remove(PlaybackThread* thread);

 private:
  TurnEndWakes() = default;
  static void OnPrepare(uv_prepare_t* handle);
  static void OnEnvCleanup(napi_async_cleanup_hook_handle hook, void* self);

  uv_prepare_t prepare_{};
  napi_async_cleanup_hook_handle cleanup_ = nullptr;
  std::vector<PlaybackThread*> pending_;
  bool closing_ = false;
};

}  // namespace speakerd

#endif  // SPEAKERD_TURN_END_WAKES_H_
