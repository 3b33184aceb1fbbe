// A PCM that breaks on request, so that device loss, refused opens and stuck
// opens can be produced for real on a machine without a sound card. It is an
// ioplug PCM that passes every frame on to a slave PCM (a `file` PCM in the
// tests) until it is told to fail, and then behaves like an unplugged card,
// in one of two ways:
//   - fail_mode errno (the default): every call answers the chosen errno;
//   - fail_mode disconnect: what a kernel driver does when its card goes away
//     (USB unplug, driver unbound). The state turns SND_PCM_STATE_DISCONNECTED,
//     the poll descriptor reports POLLERR (even to a poll that asked for no
//     events), the hardware pointer freezes, and the calls that move frames
//     return no errno at all; only start, stop and prepare answer ENODEV.
//
// alsa-lib built without libdl cannot load plugin types, so speakerd resolves
// this one itself: it exists only where the caller's ALSA configuration
// defines it, e.g.
//
//   pcm.flaky {
//     type speakerd_fault
//     slave.pcm "out"      # where frames go while the device works (required)
//     fail_at_frame 48000  # each opened instance fails once this many frames passed
//     fail_after_ms 500    # ... or this long after its open, playing or not
//     fail_times 1         # only the first N instances fail (default: every one)
//     fail_errno ENODEV    # what the failure answers (a name or a number)
//     fail_mode disconnect # errno (default) or disconnect, as above
//     refuse_opens 2       # N opens fail ...
//     refuse_from 1        # ... counting from this open (1: the first) ...
//     refuse_errno EBUSY   # ... with this errno
//     refuse_while_file "/tmp/gate"  # opens from refuse_from on fail while
//                          # this file exists: the test ends the outage
//                          # when it has seen it, however slow the machine
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
  int64_t fail_at_frame = -1;  // -1: not at a frame
  int64_t fail_after_ms = -1;  // -1: not after a time
  bool disconnect = false;     // fail_mode disconnect
  int64_t fail_times = -1;     // -1: every instance
  int fail_errno = 19;         // ENODEV
  int64_t refuse_opens = 0;
  int64_t refuse_from = 1;
  int refuse_errno = 19;
  std::string refuse_while_file;  // empty: no gate
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
