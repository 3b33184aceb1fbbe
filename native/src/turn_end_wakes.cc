#include "turn_end_wakes.h"

#include <algorithm>

#include "playback_thread.h"

namespace speakerd {

TurnEndWakes* TurnEndWakes::Create(napi_env env) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return nullptr;
  auto* wakes = new TurnEndWakes();
  uv_prepare_init(loop, &wakes->prepare_);
  wakes->prepare_.data = wakes;
  // A pending wake never keeps the process alive: the socket being read does.
  uv_unref(reinterpret_cast<uv_handle_t*>(&wakes->prepare_));
  if (napi_add_async_cleanup_hook(env, OnEnvCleanup, wakes, &wakes->cleanup_) != napi_ok) {
    // Without the hook the handle could outlive the loop: wake at once instead.
    uv_close(reinterpret_cast<uv_handle_t*>(&wakes->prepare_),
             [](uv_handle_t* handle) { delete static_cast<TurnEndWakes*>(handle->data); });
    return nullptr;
  }
  return wakes;
}

void TurnEndWakes::Add(PlaybackThread* thread) {
  if (closing_) {
    thread->ProducerProgress();
    return;
  }
  if (std::find(pending_.begin(), pending_.end(), thread) != pending_.end()) return;
  if (pending_.empty()) uv_prepare_start(&prepare_, OnPrepare);
  pending_.push_back(thread);
}

void TurnEndWakes::Remove(PlaybackThread* thread) {
  pending_.erase(std::remove(pending_.begin(), pending_.end(), thread), pending_.end());
  if (pending_.empty() && !closing_) uv_prepare_stop(&prepare_);
}

void TurnEndWakes::OnPrepare(uv_prepare_t* handle) {
  auto* self = static_cast<TurnEndWakes*>(handle->data);
  uv_prepare_stop(handle);
  std::vector<PlaybackThread*> due;
  due.swap(self->pending_);
  for (PlaybackThread* thread : due) thread->ProducerProgress();
}

void TurnEndWakes::OnEnvCleanup(napi_async_cleanup_hook_handle, void* data) {
  auto* self = static_cast<TurnEndWakes*>(data);
  self->closing_ = true;
  self->pending_.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(&self->prepare_), [](uv_handle_t* handle) {
    auto* wakes = static_cast<TurnEndWakes*>(handle->data);
    napi_remove_async_cleanup_hook(wakes->cleanup_);
    delete wakes;
  });
}

}  // namespace speakerd
