// The JS face of the ALSA configuration check: checkAlsaConfig(text) merges
// the text over alsa.conf as an open would, and returns { ok: true } or
// { ok: false, message }, message being alsa-lib's own words (with the
// parser's line and column) when it printed any.
#pragma once

#include <napi.h>

namespace speakerd {

// Registers checkAlsaConfig on `exports`.
void InitAlsaConfigWrap(Napi::Env env, Napi::Object exports);

}  // namespace speakerd
