// Reads an audio format as JS passes it, { format: "S16_LE", rate, channels },
// for the converter and for a stream's input. The TypeScript wrappers check
// the values first; this only keeps a malformed call from reaching C++.
#pragma once

#include <napi.h>

#include <string>

#include "converter.h"

namespace speakerd {

// `value` as an AudioFormat; `name` names the value and `side` ("input" or
// "output") the conversion's end in errors. Throws E_INVALID_ARG or
// E_INVALID_FORMAT TypeErrors.
AudioFormat ReadAudioFormat(Napi::Env env, Napi::Value value, const std::string& name, const char* side);

// The resampler quality in options.quality, or the converter's default.
int ReadQuality(Napi::Env env, Napi::Object options);

// A converter's refusal as JS sees it: argument errors (a format, rate,
// channel count or quality it does not take) are TypeErrors, like every
// other API misuse; a resampler that cannot be created is an Error.
Napi::Error ConverterError(Napi::Env env, const DeviceError& error);

}  // namespace speakerd
