// ALSA configuration text (AUDIO_ALSA_CONFIG, tone --alsa-config) and the
// tree it is merged into. A device's open and the service's start-up check
// load it through the same function, so that the check refuses exactly what
// an open would.
#pragma once

#include <alsa/asoundlib.h>

#include <string>

#include "device_error.h"

namespace speakerd {

// The configuration a PCM name is looked up in: alsa.conf (and what it
// includes) from the shipped configuration directory, with `extra` merged on
// top. A private copy, which the caller deletes, so that one device's text
// never leaks into another's. On failure fills *error (E_ALSA_CONFIG) and
// returns nullptr; alsa-lib's own words (the parser's line and column) reach
// error->alsa_messages only if the caller holds an AlsaLogScope.
snd_config_t* LoadAlsaConfig(const std::string& extra, DeviceError* error);

// Loads as a device would, then drops the tree: no PCM is opened. On failure
// fills *error, alsa-lib's messages included.
bool CheckAlsaConfig(const std::string& extra, DeviceError* error);

}  // namespace speakerd
