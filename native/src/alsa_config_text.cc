#include "alsa_config_text.h"

#include "alsa_log.h"

namespace speakerd {
namespace {

bool MergeText(snd_config_t* into, const std::string& text, DeviceError* error) {
  if (text.empty()) return true;
  snd_input_t* input = nullptr;
  int err = snd_input_buffer_open(&input, text.data(), static_cast<ssize_t>(text.size()));
  if (err >= 0) {
    err = snd_config_load(into, input);
    snd_input_close(input);
  }
  if (err < 0) {
    SetAlsaError(error, "E_ALSA_CONFIG", err, "cannot parse the ALSA configuration text");
    return false;
  }
  return true;
}

}  // namespace

snd_config_t* LoadAlsaConfig(const std::string& extra, DeviceError* error) {
  snd_config_t* global = nullptr;
  snd_config_t* merged = nullptr;
  int err = snd_config_update_ref(&global);
  if (err >= 0) {
    err = snd_config_copy(&merged, global);
    snd_config_unref(global);
  } else {
    // No alsa.conf: names must then come from the caller's text alone.
    err = snd_config_top(&merged);
  }
  if (err < 0) {
    SetAlsaError(error, "E_ALSA_CONFIG", err, "cannot load the ALSA configuration");
    return nullptr;
  }
  // Merged over alsa.conf, not parsed alone: text that clashes with it
  // (`pcm 5`, where alsa.conf has a compound) fails only when merged.
  if (!MergeText(merged, extra, error)) {
    snd_config_delete(merged);
    return nullptr;
  }
  return merged;
}

bool CheckAlsaConfig(const std::string& extra, DeviceError* error) {
  AlsaLogScope collect([error](std::string line) { error->alsa_messages.push_back(std::move(line)); });
  snd_config_t* config = LoadAlsaConfig(extra, error);
  if (config == nullptr) return false;
  snd_config_delete(config);
  return true;
}

}  // namespace speakerd
