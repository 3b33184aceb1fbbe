// speakerd's native addon: registers exports only.
#include <alsa/asoundlib.h>
#include <napi.h>

#include <cstdlib>
#include <mutex>
#include <string>

#include "alsa_config_wrap.h"
#include "alsa_log.h"
#include "audio_limits.h"
#include "c_heap.h"
#include "converter_wrap.h"
#include "device_wrap.h"
#include "free_buffer.h"
#include "hardware_volume_wrap.h"
#include "realtime.h"

namespace {

// Points alsa-lib at the configuration files shipped with the build, unless
// the user set ALSA_CONFIG_DIR. alsa-lib reads the variable once, at its
// first configuration load, so only the first call in a process matters.
Napi::Value UseAlsaConfigDir(const Napi::CallbackInfo& info) {
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  const std::string dir = info[0].As<Napi::String>().Utf8Value();
  setenv("ALSA_CONFIG_DIR", dir.c_str(), 0);
  const char* effective = getenv("ALSA_CONFIG_DIR");
  return Napi::String::New(info.Env(), effective ? effective : "");
}

template <size_t N>
Napi::Array FormatNames(Napi::Env env, const snd_pcm_format_t (&formats)[N]) {
  Napi::Array names = Napi::Array::New(env, N);
  for (size_t i = 0; i < N; ++i) names.Set(static_cast<uint32_t>(i), snd_pcm_format_name(formats[i]));
  return names;
}

// audio_limits.h, for the TypeScript tables to be checked against.
Napi::Object AudioLimits(Napi::Env env) {
  Napi::Object limits = Napi::Object::New(env);
  limits.Set("inputFormats", FormatNames(env, speakerd::kInputFormats));
  limits.Set("minInputRate", speakerd::kMinInputRate);
  limits.Set("maxInputChannels", speakerd::kMaxInputChannels);
  limits.Set("deviceFormats", FormatNames(env, speakerd::kDeviceFormats));
  limits.Set("minDeviceRate", speakerd::kMinDeviceRate);
  limits.Set("maxDeviceChannels", speakerd::kMaxDeviceChannels);
  limits.Set("maxRate", speakerd::kMaxRate);
  return limits;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  speakerd::InstallAlsaLogHandler();
  speakerd::InitDeviceWrap(env, exports);
  speakerd::InitConverterWrap(env, exports);
  speakerd::InitAlsaConfigWrap(env, exports);
  speakerd::InitFreeBuffer(env, exports);
  speakerd::InitCHeap(env, exports);
  speakerd::InitHardwareVolumeWrap(env, exports);
  exports.Set("useAlsaConfigDir", Napi::Function::New(env, UseAlsaConfigDir));
  exports.Set("alsaLibVersion", Napi::String::New(env, snd_asoundlib_version()));
  // The diagnostics describe the playback thread's scheduling with these.
  exports.Set("realtimePriority", Napi::Number::New(env, speakerd::kRealtimePriority));
  exports.Set("minBufferMsWithoutRealtime", Napi::Number::New(env, speakerd::kMinBufferMsWithoutRealtime));
  exports.Set("audioLimits", AudioLimits(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(speakerd, Init)
