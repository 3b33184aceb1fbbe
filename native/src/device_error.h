// The one error type that native code hands to JS: a stable code, the errno
// behind it (positive, 0 when there is none), a human message and what
// alsa-lib printed while it failed.
#pragma once

#include <string>
#include <vector>

namespace speakerd {

struct DeviceError {
  std::string code;     // E_ALSA_OPEN, E_ALSA_CONFIG, E_ALSA_HW_PARAMS, E_DEVICE_LOST ...
  int errnum = 0;       // positive errno
  std::string message;  // names the PCM and the failing step
  std::vector<std::string> alsa_messages;

  bool ok() const { return code.empty(); }
};

// Fills *error from a negative alsa-lib return value.
void SetAlsaError(DeviceError* error, const char* code, int alsa_err, const std::string& what);

}  // namespace speakerd
