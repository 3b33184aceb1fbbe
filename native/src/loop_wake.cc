#include "loop_wake.h"

namespace speakerd {

LoopWake* LoopWake::Create(napi_env env, std::function<void()> on_wake) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return nullptr;
  auto* wake = new LoopWake();
  wake->env_ = env;
  wake->on_wake_ = std::move(on_wake);
  if (uv_async_init(loop, &wake->async_, OnAsync) != 0) {
    delete wake;
    return nullptr;
  }
  wake->async_.data = wake;
  wake->Unref();
  uv_timer_init(loop, &wake->timer_);  // cannot fail
  wake->timer_.data = wake;
  wake->open_handles_ = 2;  // each close callback counts one down
  uv_unref(reinterpret_cast<uv_handle_t*>(&wake->timer_));
  // The owner closes the wake before the env goes (its own cleanup hook was
  // registered later, so it runs first); this hook makes Node wait for the
  // handle's close callback, so that the handle never outlives the loop.
  if (napi_add_async_cleanup_hook(env, OnEnvCleanup, wake, &wake->cleanup_) != napi_ok) wake->cleanup_ = nullptr;
  return wake;
}

void LoopWake::Close() {
  if (closing_) return;
  closing_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), OnClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), OnClosed);
}

void LoopWake::OnClosed(uv_handle_t* handle) {
  auto* wake = static_cast<LoopWake*>(handle->data);
  if (--wake->open_handles_ > 0) return;
  if (wake->cleanup_ != nullptr) napi_remove_async_cleanup_hook(wake->cleanup_);
  delete wake;
}

void LoopWake::OnAsync(uv_async_t* handle) { static_cast<LoopWake*>(handle->data)->Wake(); }

void LoopWake::OnTimer(uv_timer_t* handle) { static_cast<LoopWake*>(handle->data)->Wake(); }

void LoopWake::Wake() {
  if (closing_) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env_, &scope) != napi_ok) return;
  on_wake_();
  napi_close_handle_scope(env_, scope);
}

void LoopWake::OnEnvCleanup(napi_async_cleanup_hook_handle, void* self) {
  // The env is going: nothing sends any more. Once the owner has closed
  // the wake, this only waits for the close callback.
  static_cast<LoopWake*>(self)->Close();
}

}  // namespace speakerd
