// The JS face of the engine: Device and Stream objects, the workers that open
// and close a device off the JS thread, and the ThreadSafeFunction through
// which the playback thread's events reach JS.
#pragma once

#include <napi.h>

namespace speakerd {

// Registers Device and Stream and the open functions on `exports`.
void InitDeviceWrap(Napi::Env env, Napi::Object exports);

}  // namespace speakerd
