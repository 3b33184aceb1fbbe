// Wakes the JS thread from any thread, without a lock: how the playback and
// decode threads tell JS that events are waiting.
//
// Node's ThreadSafeFunction queues each call under a mutex and wakes the
// loop while it still holds it. The JS thread then wakes (often on the
// sender's own CPU, ahead of it) and blocks on that mutex until the sender
// runs again. A decode thread runs at nice 10, so with 8 unpaced decodes the
// JS thread waited 2-7 ms at a time in ThreadSafeFunction::AsyncCb (strace
// and gdb); without SCHED_FIFO, as in the DaemonSet, the playback thread
// would do the same. uv_async_send is an atomic flag and an eventfd write:
// nothing the loop waits for, and sends made before the loop gets to them
// are coalesced into one callback.
#ifndef SPEAKERD_LOOP_WAKE_H_
#define SPEAKERD_LOOP_WAKE_H_

#include <node_api.h>
#include <uv.h>

#include <functional>

namespace speakerd {

class LoopWake {
 public:
  // JS thread. `on_wake` runs on the JS thread after one or more Send()s,
  // inside a handle scope. Null if libuv or Node refused the handle.
  static LoopWake* Create(napi_env env, std::function<void()> on_wake);

  // Any thread, until Close().
  void Send() { uv_async_send(&async_); }
  // JS thread: `on_wake` runs again in `ms` milliseconds (for what is not
  // ready yet and cannot be waited for on the JS thread). A later call
  // replaces an earlier one.
  void SendLater(uint64_t ms) { uv_timer_start(&timer_, OnTimer, ms, 0); }

  // JS thread. Like a socket's: a referenced wake keeps the process alive
  // (the timer never does on its own: it only ever runs for a referenced
  // wake's events).
  void Ref() { uv_ref(reinterpret_cast<uv_handle_t*>(&async_)); }
  void Unref() { uv_unref(reinterpret_cast<uv_handle_t*>(&async_)); }

  // JS thread, once no thread can Send() any more: no callback runs after
  // it, and the object frees itself when libuv has let go of the handle.
  // Node's env teardown waits for that.
  void Close();

 private:
  LoopWake() = default;
  static void OnAsync(uv_async_t* handle);
  static void OnTimer(uv_timer_t* handle);
  static void OnClosed(uv_handle_t* handle);
  static void OnEnvCleanup(napi_async_cleanup_hook_handle hook, void* self);
  void Wake();

  uv_async_t async_{};
  uv_timer_t timer_{};
  int open_handles_ = 0;
  napi_env env_ = nullptr;
  napi_async_cleanup_hook_handle cleanup_ = nullptr;
  std::function<void()> on_wake_;
  bool closing_ = false;
};

}  // namespace speakerd

#endif  // SPEAKERD_LOOP_WAKE_H_
