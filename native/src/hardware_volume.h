// A sound card's own volume: one element of the card's mixer, read and set in
// dB through alsa-lib's simple mixer API.
//
// Every call opens the card's mixer, does its work and closes it again. A
// control handle kept open between calls would keep the card too: the kernel
// frees an unplugged card, and its index, only once every handle on it is
// closed (a platform unbind waits for that), and nothing here would notice the
// unplug to let go. Each call blocks on ioctls: run it off the JS thread.
#pragma once

#include <string>

#include "device_error.h"

namespace speakerd {

// The elements tried, in this order, when none is named: the first that
// exists and has a playback volume is the card's volume.
constexpr const char* kDefaultMixerElements[] = {"Master", "PCM", "Speaker"};

// Which element of which card. The card's id ("Dummy", "PCH") tells the card
// from another that later takes its index.
struct MixerTarget {
  int card = -1;
  std::string card_id;
  std::string element;
};

struct VolumeState {
  MixerTarget target;
  // The element's range in dB. An element whose lowest step means "mute"
  // (TLV mute) has no dB figure there: its range starts one step above.
  double min_db = 0;
  double max_db = 0;
  // The loudest channel. False: every channel sits on the mute step, which
  // only another tool can have put it on.
  bool db_known = false;
  double db = 0;
  bool has_switch = false;
  bool muted = false;  // every channel's playback switch is off; false without a switch
};

struct VolumeChange {
  bool set_db = false;
  double db = 0;  // clamped to [min_db, max_db], then to the nearest step
  bool set_muted = false;
  bool muted = false;
};

// Finds `element` on card `card` (empty: the first of kDefaultMixerElements
// with a playback volume) and reads it; fills state->target. Errors:
// E_MIXER_OPEN, E_MIXER_ELEMENT (naming the elements that have a playback
// volume), E_MIXER_NO_DB (an element without dB information: the caller
// then has no hardware volume in dB), E_MIXER_IO.
bool OpenHardwareVolume(int card, const std::string& element, VolumeState* state, DeviceError* error);

// Reads the element again. Errors: E_MIXER_LOST (the card is gone, or
// another card has its index now), E_MIXER_OPEN, E_MIXER_ELEMENT,
// E_MIXER_NO_DB, E_MIXER_IO.
bool ReadHardwareVolume(const MixerTarget& target, VolumeState* state, DeviceError* error);

// Applies `change`, then reads the element back from the driver. Errors:
// E_MIXER_NO_SWITCH (a mute asked of an element without a playback switch:
// nothing is changed), and those of ReadHardwareVolume.
bool ChangeHardwareVolume(const MixerTarget& target, const VolumeChange& change, VolumeState* state,
                          DeviceError* error);

}  // namespace speakerd
