// The JS face of the engine: Device and Stream objects, the workers that open
// and close a device off the JS thread, and the delivery of the playback and
// decode threads' events to JS (through a LoopWake).
#pragma once

#include <napi.h>

namespace speakerd {

// Registers Device and Stream and the open functions on `exports`.
void InitDeviceWrap(Napi::Env env, Napi::Object exports);

}  // namespace speakerd
