#include "free_buffer.h"

#include "js_errors.h"

namespace speakerd {
namespace {

// Detaching is what frees: the ArrayBuffer drops its backing store, whose
// memory goes back at once, and V8's external-memory count with it. Only a
// view of a whole ArrayBuffer is freed: part of one (Node's 8 KiB pool for
// small buffers) is shared with other views. Returns whether it freed.
Napi::Value FreeBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) throw MakeTypeError(env, "E_INVALID_ARG", "freeBuffer() takes a Buffer or Uint8Array");
  Napi::TypedArray view = info[0].As<Napi::TypedArray>();
  Napi::ArrayBuffer buffer = view.ArrayBuffer();
  if (buffer.IsDetached() || view.ByteOffset() != 0 || view.ByteLength() != buffer.ByteLength()) {
    return Napi::Boolean::New(env, false);
  }
  // Some ArrayBuffers cannot be detached (WebAssembly memory, for one):
  // those are left to the GC.
  if (napi_detach_arraybuffer(env, buffer) != napi_ok) {
    env.GetAndClearPendingException();
    return Napi::Boolean::New(env, false);
  }
  return Napi::Boolean::New(env, true);
}

}  // namespace

void InitFreeBuffer(Napi::Env env, Napi::Object exports) {
  exports.Set("freeBuffer", Napi::Function::New(env, FreeBuffer));
}

}  // namespace speakerd
