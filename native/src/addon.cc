// speakerd's native addon: registers exports only.
#include <alsa/asoundlib.h>
#include <napi.h>

#include <cstdlib>
#include <mutex>
#include <string>

#include "alsa_config_wrap.h"
#include "alsa_log.h"
#include "converter_wrap.h"
#include "device_wrap.h"
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

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  speakerd::InstallAlsaLogHandler();
  speakerd::InitDeviceWrap(env, exports);
  speakerd::InitConverterWrap(env, exports);
  speakerd::InitAlsaConfigWrap(env, exports);
  exports.Set("useAlsaConfigDir", Napi::Function::New(env, UseAlsaConfigDir));
  exports.Set("alsaLibVersion", Napi::String::New(env, snd_asoundlib_version()));
  // The diagnostics describe the playback thread's scheduling with these.
  exports.Set("realtimePriority", Napi::Number::New(env, speakerd::kRealtimePriority));
  exports.Set("minBufferMsWithoutRealtime", Napi::Number::New(env, speakerd::kMinBufferMsWithoutRealtime));
  return exports;
}

}  // namespace

NODE_API_MODULE(speakerd, Init)
