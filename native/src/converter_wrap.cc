#include "converter_wrap.h"

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "converter.h"
#include "js_audio_format.h"
#include "js_errors.h"

namespace speakerd {
namespace {

const uint8_t* BytesOf(Napi::TypedArray array) {
  return static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
}

// A converter serves one stream. flush() ends it and frees its native memory
// at once, not when JS collects the object: V8 does not see that memory, so
// it is also reported as external memory while held, which makes V8 collect
// converters of streams that were dropped without a flush.
class ConverterWrap : public Napi::ObjectWrap<ConverterWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Converter",
                       {InstanceMethod<&ConverterWrap::Convert>("convert"),
                        InstanceMethod<&ConverterWrap::Flush>("flush"),
                        InstanceMethod<&ConverterWrap::Steer>("steer")});
  }

  // Argument: External<Converter>, whose ownership passes to this object.
  explicit ConverterWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ConverterWrap>(info) {
    if (!info[0].IsExternal()) throw MakeTypeError(info.Env(), "E_INVALID_ARG", "use createConverter()");
    converter_.reset(info[0].As<Napi::External<Converter>>().Data());
    external_bytes_ = static_cast<int64_t>(converter_->memory_bytes());
    Napi::MemoryManagement::AdjustExternalMemory(info.Env(), external_bytes_);
  }

  ~ConverterWrap() override { Release(Env()); }

 private:
  Napi::Value Convert(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray()) throw MakeTypeError(env, "E_INVALID_ARG", "convert() takes a Buffer or Uint8Array");
    if (!converter_) {
      throw MakeTypeError(env, "E_CONVERTER_FLUSHED", "convert() after flush(): a converter serves one stream");
    }
    Napi::TypedArray chunk = info[0].As<Napi::TypedArray>();
    const size_t bytes = chunk.ByteLength();
    const size_t frame_bytes = converter_->input_frame_bytes();
    if (bytes % frame_bytes != 0) {
      throw MakeTypeError(env, "E_PARTIAL_FRAME",
                              "convert() takes whole frames of " + std::to_string(frame_bytes) + " bytes; got " +
                                  std::to_string(bytes) + " bytes");
    }
    std::vector<uint8_t> out;
    converter_->Convert(BytesOf(chunk), bytes / frame_bytes, &out);
    return ToBuffer(env, out);
  }

  // steer(sourcePerOutput): as a timed stream's clock lock moves its ratio.
  void Steer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!converter_) throw MakeTypeError(env, "E_CONVERTER_FLUSHED", "steer() after flush(): a converter serves one stream");
    if (!converter_->steerable()) throw MakeTypeError(env, "E_INVALID_ARG", "steer() needs a converter created with steerable: true");
    const double ratio = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : NAN;
    if (!converter_->CanSteerTo(ratio)) {
      throw MakeTypeError(env, "E_INVALID_ARG", "steer() takes source frames per output frame within 10 % of " +
                                                    std::to_string(converter_->nominal_ratio()));
    }
    converter_->SteerRatio(ratio);
  }

  Napi::Value Flush(const Napi::CallbackInfo& info) {
    std::vector<uint8_t> out;
    if (converter_) converter_->Flush(&out);
    Release(info.Env());
    return ToBuffer(info.Env(), out);
  }

  // A copy into a V8-owned Buffer, whose memory V8 accounts for.
  static Napi::Value ToBuffer(Napi::Env env, const std::vector<uint8_t>& bytes) {
    return Napi::Buffer<uint8_t>::Copy(env, bytes.data(), bytes.size());
  }

  void Release(Napi::Env env) {
    if (!converter_) return;
    converter_.reset();
    Napi::MemoryManagement::AdjustExternalMemory(env, -external_bytes_);
  }

  std::unique_ptr<Converter> converter_;
  int64_t external_bytes_ = 0;
};

// createConverter({ from, to, quality?, steerable? }); its data is the Converter class.
Napi::Value CreateConverter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw MakeTypeError(env, "E_INVALID_ARG", "createConverter() needs an options object");
  Napi::Object options = info[0].As<Napi::Object>();
  const AudioFormat from = ReadAudioFormat(env, options.Get("from"), "from", "input");
  const AudioFormat to = ReadAudioFormat(env, options.Get("to"), "to", "output");
  const int quality = ReadQuality(env, options);
  const bool steerable = options.Get("steerable").ToBoolean();
  DeviceError error;
  std::unique_ptr<Converter> converter = Converter::Create(from, to, quality, &error, steerable);
  if (!converter) throw ConverterError(env, error);
  auto* constructor = static_cast<Napi::FunctionReference*>(info.Data());
  Napi::Object object = constructor->New({Napi::External<Converter>::New(env, converter.get())});
  converter.release();  // the object owns it now
  return object;
}

}  // namespace

void InitConverterWrap(Napi::Env env, Napi::Object exports) {
  // The class lives as long as createConverter does: a reference owned by
  // the function, not a static, since every worker thread has its own env.
  auto* constructor = new Napi::FunctionReference(Napi::Persistent(ConverterWrap::Define(env)));
  Napi::Function create = Napi::Function::New(env, CreateConverter, "createConverter", constructor);
  create.AddFinalizer([](Napi::Env, Napi::FunctionReference* reference) { delete reference; }, constructor);
  exports.Set("createConverter", create);
}

}  // namespace speakerd
