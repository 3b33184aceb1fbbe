// A PCM that breaks on request, so that device loss, refused opens and stuck
// opens can be produced for real on a machine without a sound card. It is an
// ioplug PCM that passes every frame on to a slave PCM (a `file` PCM in the
// tests) until it is told to fail, and then behaves like an unplugged card:
// every call answers the chosen errno.
//
// alsa-lib built without libdl cannot load plugin types, so speakerd resolves
// this one itself: it exists only where the caller's ALSA configuration
// defines it, e.g.
//
//   pcm.flaky {
//     type speakerd_fault
//     slave.pcm "out"      # where frames go while the device works (required)
//     fail_at_frame 48000  # each opened instance fails once this many frames passed
//     fail_times 1         # only the first N instances fail (default: every one)
//     fail_errno ENODEV    # what the failure answers (a name or a number)
//     refuse_opens 2       # N opens fail ...
//     refuse_from 1        # ... counting from this open (1: the first) ...
//     refuse_errno EBUSY   # ... with this errno
//     open_delay_ms 3000   # opens block this long, like a driver stuck in open ...
//     delay_opens 1        # ... but only the first N (default: every one)
//   }
//
// Open counts and fired faults are kept per definition name for the life of
// the process, so a sequence (refuse twice, then open) spans reopens.
#pragma once

#include <alsa/asoundlib.h>

#include <cstdint>
#include <string>

#include "device_error.h"

namespace speakerd {

constexpr const char* kFaultPcmType = "speakerd_fault";

struct FaultSpec {
  std::string name;
  std::string slave;
  int64_t fail_at_frame = -1;  // -1: never fails
  int64_t fail_times = -1;     // -1: every instance
  int fail_errno = 19;         // ENODEV
  int64_t refuse_opens = 0;
  int64_t refuse_from = 1;
  int refuse_errno = 19;
  int64_t open_delay_ms = 0;
  int64_t delay_opens = -1;  // -1: every open
};

// Looks `name` up among config's top-level pcm definitions. Returns 1 and
// fills *spec when it is a speakerd_fault PCM, 0 when it is anything else
// (alsa-lib opens it), or a negative errno with *error set when the
// definition is malformed.
int FindFaultSpec(snd_config_t* config, const std::string& name, FaultSpec* spec, DeviceError* error);

// Runs the open sequence the spec asks for (delay, refusal) and creates the
// PCM, its slave opened from `config`. Returns 0 or a negative errno.
int OpenFaultPcm(snd_pcm_t** pcm, const FaultSpec& spec, snd_config_t* config);

}  // namespace speakerd
