// The JS face of the format converter: createConverter(options) returns an
// object with convert(chunk) and flush(), each returning a Buffer of
// device-format frames.
#pragma once

#include <napi.h>

namespace speakerd {

// Registers createConverter on `exports`.
void InitConverterWrap(Napi::Env env, Napi::Object exports);

}  // namespace speakerd
