#include "alsa_config_wrap.h"

#include <string>

#include "alsa_config_text.h"
#include "js_errors.h"

namespace speakerd {
namespace {

// alsa-lib's lines say where the parser stopped; the errno alone ("Invalid
// argument") does not, so it is only the fallback.
std::string DescribeFailure(const DeviceError& error) {
  if (error.alsa_messages.empty()) return error.message;
  std::string message;
  for (const std::string& line : error.alsa_messages) {
    if (!message.empty()) message += "; ";
    message += line;
  }
  return message;
}

// Synchronous, on the JS thread: it reads alsa.conf and parses text, opens
// no PCM, and so cannot block in a driver.
Napi::Value CheckAlsaConfigJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw MakeTypeError(env, "E_INVALID_ARG", "checkAlsaConfig() needs ALSA configuration text");
  DeviceError error;
  const bool ok = CheckAlsaConfig(info[0].As<Napi::String>().Utf8Value(), &error);
  Napi::Object result = Napi::Object::New(env);
  result.Set("ok", ok);
  if (!ok) result.Set("message", DescribeFailure(error));
  return result;
}

}  // namespace

void InitAlsaConfigWrap(Napi::Env env, Napi::Object exports) {
  exports.Set("checkAlsaConfig", Napi::Function::New(env, CheckAlsaConfigJs, "checkAlsaConfig"));
}

}  // namespace speakerd
