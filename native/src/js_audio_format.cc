#include "js_audio_format.h"

#include <string>

#include "js_errors.h"

namespace speakerd {

Napi::Error ConverterError(Napi::Env env, const DeviceError& error) {
  if (error.code == "E_RESAMPLER_INIT") return MakeError(env, error);
  return MakeTypeError(env, error.code, error.message);
}

AudioFormat ReadAudioFormat(Napi::Env env, Napi::Value value, const std::string& name, const char* side) {
  if (!value.IsObject()) {
    throw MakeTypeError(env, "E_INVALID_ARG", name + " must be { format, rate, channels }");
  }
  Napi::Object o = value.As<Napi::Object>();
  const Napi::Value format = o.Get("format");
  const Napi::Value rate = o.Get("rate");
  const Napi::Value channels = o.Get("channels");
  if (!format.IsString() || !rate.IsNumber() || !channels.IsNumber()) {
    throw MakeTypeError(env, "E_INVALID_ARG",
                        name + " must be { format: string, rate: number, channels: number }");
  }
  const std::string format_name = format.As<Napi::String>().Utf8Value();
  AudioFormat f;
  f.format = snd_pcm_format_value(format_name.c_str());
  f.rate = rate.As<Napi::Number>().Uint32Value();
  f.channels = channels.As<Napi::Number>().Uint32Value();
  if (f.format == SND_PCM_FORMAT_UNKNOWN) {
    throw MakeTypeError(env, "E_INVALID_FORMAT", std::string("unsupported ") + side + " sample format " + format_name);
  }
  return f;
}

int ReadQuality(Napi::Env env, Napi::Object options) {
  const Napi::Value quality = options.Get("quality");
  if (quality.IsUndefined()) return Converter::kDefaultQuality;
  if (!quality.IsNumber()) throw MakeTypeError(env, "E_INVALID_ARG", "quality must be a number");
  return quality.As<Napi::Number>().Int32Value();
}

}  // namespace speakerd
