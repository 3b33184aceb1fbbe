// How native errors become JS errors: API misuse is a TypeError with a
// `code`; a failure of alsa-lib or the playback thread is an Error with
// `code`, `errno` and what alsa-lib printed (`alsaMessages`).
#pragma once

#include <napi.h>

#include <string>

#include "device_error.h"

namespace speakerd {

inline Napi::TypeError MakeTypeError(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::TypeError e = Napi::TypeError::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

inline Napi::Error MakeError(Napi::Env env, const DeviceError& error) {
  Napi::Error e = Napi::Error::New(env, error.message);
  e.Set("code", Napi::String::New(env, error.code));
  e.Set("errno", Napi::Number::New(env, error.errnum));
  Napi::Array lines = Napi::Array::New(env, error.alsa_messages.size());
  for (size_t i = 0; i < error.alsa_messages.size(); ++i) lines.Set(i, error.alsa_messages[i]);
  e.Set("alsaMessages", lines);
  return e;
}

}  // namespace speakerd
