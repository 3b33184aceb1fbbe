// The JS face of a card's hardware volume (hardware_volume.h). Each call runs
// on a thread of its own and returns a promise of the element's state
// { card, cardId, element, minDb, maxDb, db, muted, hasSwitch }, or rejects
// with an Error carrying code, errno and alsaMessages (js_errors.h):
//   openHardwareVolume(card, element)           element '' picks the default
//   readHardwareVolume(card, cardId, element)
//   setHardwareVolume(card, cardId, element, { db?, muted? })
// and defaultMixerElements lists the default order.
#pragma once

#include <napi.h>

namespace speakerd {

// Registers the three functions and defaultMixerElements on `exports`.
void InitHardwareVolumeWrap(Napi::Env env, Napi::Object exports);

}  // namespace speakerd
