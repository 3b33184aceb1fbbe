#include "hardware_volume_wrap.h"

#include <cmath>
#include <functional>
#include <thread>

#include "alsa_log.h"
#include "hardware_volume.h"
#include "js_errors.h"

namespace speakerd {
namespace {

// One mixer call, on a detached thread of its own, settling a promise on the
// JS thread. Not on libuv's pool: the calls are ioctls on the card's control
// device, and a driver stuck in one would hold a pool thread for good, which
// Node joins as the process exits (device_wrap.cc's OpenJob says the same of
// opens). A job whose environment is gone when it ends frees itself.
class MixerJob {
 public:
  using Work = std::function<bool(VolumeState*, DeviceError*)>;

  static Napi::Promise Start(Napi::Env env, Work work) {
    auto* job = new MixerJob(env, std::move(work));
    Napi::Promise promise = job->deferred_.Promise();
    job->done_ = DoneFunction::New(env, "speakerd mixer", 0, 1);
    std::thread([job] { job->Run(); }).detach();
    return promise;
  }

 private:
  static void Finish(Napi::Env env, Napi::Function, std::nullptr_t*, MixerJob* job) {
    if (env != nullptr) job->Settle(env);
    delete job;
  }
  using DoneFunction = Napi::TypedThreadSafeFunction<std::nullptr_t, MixerJob, Finish>;

  MixerJob(Napi::Env env, Work work) : work_(std::move(work)), deferred_(Napi::Promise::Deferred::New(env)) {}

  void Run() {
    {
      AlsaLogScope collect([this](std::string line) { error_.alsa_messages.push_back(std::move(line)); });
      ok_ = work_(&state_, &error_);
    }
    // Copied first: once the call is queued, the JS thread may free the job.
    DoneFunction done = done_;
    if (done.NonBlockingCall(this) != napi_ok) delete this;
    done.Release();
  }

  void Settle(Napi::Env env) {
    if (!ok_) {
      deferred_.Reject(MakeError(env, error_).Value());
      return;
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("card", state_.target.card);
    out.Set("cardId", state_.target.card_id);
    out.Set("element", state_.target.element);
    out.Set("minDb", state_.min_db);
    out.Set("maxDb", state_.max_db);
    out.Set("db", state_.db_known ? Napi::Number::New(env, state_.db) : env.Null());
    out.Set("muted", state_.muted);
    out.Set("hasSwitch", state_.has_switch);
    deferred_.Resolve(out);
  }

  Work work_;
  bool ok_ = false;
  VolumeState state_;
  DeviceError error_;
  Napi::Promise::Deferred deferred_;
  DoneFunction done_;
};

// The arguments are checked by the JS wrapper (src/engine/hardware-volume.ts);
// these checks only keep a bad call from reaching alsa-lib.
int ReadCard(const Napi::CallbackInfo& info) {
  const Napi::Value card = info[0];
  if (!card.IsNumber() || card.As<Napi::Number>().DoubleValue() != card.As<Napi::Number>().Int32Value() ||
      card.As<Napi::Number>().Int32Value() < 0) {
    throw MakeTypeError(info.Env(), "E_INVALID_ARG", "card must be a card index");
  }
  return card.As<Napi::Number>().Int32Value();
}

std::string ReadString(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (!info[index].IsString()) throw MakeTypeError(info.Env(), "E_INVALID_ARG", std::string(name) + " must be a string");
  return info[index].As<Napi::String>().Utf8Value();
}

MixerTarget ReadTarget(const Napi::CallbackInfo& info) {
  MixerTarget target;
  target.card = ReadCard(info);
  target.card_id = ReadString(info, 1, "cardId");
  target.element = ReadString(info, 2, "element");
  return target;
}

Napi::Value OpenJs(const Napi::CallbackInfo& info) {
  const int card = ReadCard(info);
  const std::string element = ReadString(info, 1, "element");
  return MixerJob::Start(info.Env(), [card, element](VolumeState* state, DeviceError* error) {
    return OpenHardwareVolume(card, element, state, error);
  });
}

Napi::Value ReadJs(const Napi::CallbackInfo& info) {
  const MixerTarget target = ReadTarget(info);
  return MixerJob::Start(info.Env(), [target](VolumeState* state, DeviceError* error) {
    return ReadHardwareVolume(target, state, error);
  });
}

Napi::Value SetJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const MixerTarget target = ReadTarget(info);
  if (!info[3].IsObject()) throw MakeTypeError(env, "E_INVALID_ARG", "the change must be an object");
  Napi::Object options = info[3].As<Napi::Object>();
  VolumeChange change;
  const Napi::Value db = options.Get("db");
  if (!db.IsUndefined()) {
    if (!db.IsNumber() || !std::isfinite(db.As<Napi::Number>().DoubleValue())) {
      throw MakeTypeError(env, "E_INVALID_ARG", "db must be a finite number");
    }
    change.set_db = true;
    change.db = db.As<Napi::Number>().DoubleValue();
  }
  const Napi::Value muted = options.Get("muted");
  if (!muted.IsUndefined()) {
    if (!muted.IsBoolean()) throw MakeTypeError(env, "E_INVALID_ARG", "muted must be a boolean");
    change.set_muted = true;
    change.muted = muted.As<Napi::Boolean>().Value();
  }
  return MixerJob::Start(env, [target, change](VolumeState* state, DeviceError* error) {
    return ChangeHardwareVolume(target, change, state, error);
  });
}

}  // namespace

void InitHardwareVolumeWrap(Napi::Env env, Napi::Object exports) {
  exports.Set("openHardwareVolume", Napi::Function::New(env, OpenJs, "openHardwareVolume"));
  exports.Set("readHardwareVolume", Napi::Function::New(env, ReadJs, "readHardwareVolume"));
  exports.Set("setHardwareVolume", Napi::Function::New(env, SetJs, "setHardwareVolume"));
  Napi::Array names = Napi::Array::New(env);
  for (const char* name : kDefaultMixerElements) names.Set(names.Length(), name);
  exports.Set("defaultMixerElements", names);
}

}  // namespace speakerd
