#include "pcm_device.h"

#include <cerrno>
#include <cstdlib>

#include "alsa_config_text.h"
#include "alsa_log.h"
#include "fault_pcm.h"

namespace speakerd {

void SetAlsaError(DeviceError* error, const char* code, int alsa_err, const std::string& what) {
  error->code = code;
  error->errnum = alsa_err < 0 ? -alsa_err : alsa_err;
  error->message = what + ": " + snd_strerror(alsa_err);
}

std::unique_ptr<PcmDevice> PcmDevice::Open(const PcmRequest& request, DeviceError* error) {
  AlsaLogScope collect([error](std::string line) { error->alsa_messages.push_back(std::move(line)); });
  snd_config_t* config = LoadAlsaConfig(request.alsa_config, error);
  if (config == nullptr) return nullptr;
  snd_pcm_t* pcm = nullptr;
  FaultSpec fault;
  int err = FindFaultSpec(config, request.pcm, &fault, error);
  if (err < 0) {
    snd_config_delete(config);
    return nullptr;
  }
  if (err == 1) {
    err = OpenFaultPcm(&pcm, fault, config);
  } else {
    err = snd_pcm_open_lconf(&pcm, request.pcm.c_str(), SND_PCM_STREAM_PLAYBACK, SND_PCM_NONBLOCK, config);
  }
  snd_config_delete(config);
  if (err < 0) {
    SetAlsaError(error, "E_ALSA_OPEN", err, "cannot open PCM \"" + request.pcm + "\"");
    return nullptr;
  }
  std::unique_ptr<PcmDevice> device(new PcmDevice(pcm, request.pcm));
  snd_pcm_info_t* info;
  snd_pcm_info_alloca(&info);
  if (snd_pcm_info(pcm, info) == 0) device->card_ = snd_pcm_info_get_card(info);
  if (!device->Configure(request, error)) return nullptr;
  return device;
}

std::unique_ptr<PcmDevice> PcmDevice::Adopt(snd_pcm_t* pcm, const PcmRequest& request, DeviceError* error) {
  AlsaLogScope collect([error](std::string line) { error->alsa_messages.push_back(std::move(line)); });
  std::unique_ptr<PcmDevice> device(new PcmDevice(pcm, request.pcm));
  if (!device->Configure(request, error)) return nullptr;
  return device;
}

bool PcmDevice::Configure(const PcmRequest& request, DeviceError* error) {
  snd_pcm_hw_params_t* hw;
  snd_pcm_hw_params_alloca(&hw);
  const std::string pcm_name = "PCM \"" + name_ + "\"";
  auto fail = [&](int err, const std::string& step) {
    SetAlsaError(error, "E_ALSA_HW_PARAMS", err, pcm_name + ": " + step);
    return false;
  };

  int err = snd_pcm_hw_params_any(pcm_, hw);
  if (err < 0) return fail(err, "no hardware configuration");
  err = snd_pcm_hw_params_set_access(pcm_, hw, SND_PCM_ACCESS_MMAP_INTERLEAVED);
  if (err < 0) return fail(err, "mmap interleaved access is not supported");
  err = snd_pcm_hw_params_set_format(pcm_, hw, request.format);
  if (err < 0) return fail(err, std::string("format ") + snd_pcm_format_name(request.format) + " is not supported");
  err = snd_pcm_hw_params_set_channels(pcm_, hw, request.channels);
  if (err < 0) return fail(err, std::to_string(request.channels) + " channels are not supported");
  unsigned rate = request.rate;
  err = snd_pcm_hw_params_set_rate_near(pcm_, hw, &rate, nullptr);
  if (err < 0) return fail(err, "rate " + std::to_string(request.rate) + " Hz is not supported");
  snd_pcm_uframes_t period = request.period_frames;
  err = snd_pcm_hw_params_set_period_size_near(pcm_, hw, &period, nullptr);
  if (err < 0) return fail(err, "period of " + std::to_string(request.period_frames) + " frames is not supported");
  snd_pcm_uframes_t buffer = static_cast<snd_pcm_uframes_t>(period) * request.periods;
  err = snd_pcm_hw_params_set_buffer_size_near(pcm_, hw, &buffer);
  if (err < 0) return fail(err, "buffer of " + std::to_string(buffer) + " frames is not supported");
  err = snd_pcm_hw_params(pcm_, hw);
  if (err < 0) return fail(err, "cannot apply the hardware parameters");

  snd_pcm_hw_params_get_rate(hw, &format_.rate, nullptr);
  snd_pcm_hw_params_get_period_size(hw, &format_.period_frames, nullptr);
  snd_pcm_hw_params_get_buffer_size(hw, &format_.buffer_frames);
  format_.format = request.format;
  format_.channels = request.channels;
  format_.frame_bytes = static_cast<size_t>(snd_pcm_format_physical_width(request.format) / 8) * request.channels;

  snd_pcm_sw_params_t* sw;
  snd_pcm_sw_params_alloca(&sw);
  snd_pcm_uframes_t boundary = 0;
  err = snd_pcm_sw_params_current(pcm_, sw);
  if (err >= 0) err = snd_pcm_sw_params_get_boundary(sw, &boundary);
  // Wake the playback thread once a whole period is free.
  if (err >= 0) err = snd_pcm_sw_params_set_avail_min(pcm_, sw, format_.period_frames);
  // The playback thread starts the PCM itself, as soon as one period is
  // committed, so that audio begins within a period of the first frame.
  if (err >= 0) err = snd_pcm_sw_params_set_start_threshold(pcm_, sw, boundary);
  // Stop (xrun) when the buffer runs empty, so that a gap is seen and counted.
  if (err >= 0) err = snd_pcm_sw_params_set_stop_threshold(pcm_, sw, format_.buffer_frames);
  // Status reports carry the time of the hardware pointer they give, on the
  // clock that never steps: the playback thread times frames by them
  // (device_clock.h).
  if (err >= 0) err = snd_pcm_sw_params_set_tstamp_mode(pcm_, sw, SND_PCM_TSTAMP_ENABLE);
  if (err >= 0) err = snd_pcm_sw_params_set_tstamp_type(pcm_, sw, SND_PCM_TSTAMP_TYPE_MONOTONIC);
  if (err >= 0) err = snd_pcm_sw_params(pcm_, sw);
  if (err < 0) {
    SetAlsaError(error, "E_ALSA_SW_PARAMS", err, pcm_name + ": cannot apply the software parameters");
    return false;
  }
  err = snd_pcm_prepare(pcm_);
  if (err < 0) {
    SetAlsaError(error, "E_ALSA_PREPARE", err, pcm_name + ": cannot prepare");
    return false;
  }
  return true;
}

int PcmDevice::Recover(int err) {
  if (err != -EPIPE && err != -ESTRPIPE) return err;
  // snd_pcm_recover prepares after an xrun, and resumes (retrying EAGAIN)
  // then prepares after a suspend. silent=1: the caller counts and logs.
  return snd_pcm_recover(pcm_, err, 1);
}

int PcmDevice::Stop() {
  int err = snd_pcm_drop(pcm_);
  if (err < 0) return err;
  return snd_pcm_prepare(pcm_);
}

PcmDevice::~PcmDevice() {
  if (pcm_ != nullptr) snd_pcm_close(pcm_);
}

}  // namespace speakerd
