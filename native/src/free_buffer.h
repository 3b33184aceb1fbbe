// freeBuffer(view): frees the memory of a buffer whose bytes have been
// copied where they are going, instead of leaving that to V8's next GC.
//
// Every body chunk Node's HTTP parser hands over is a fresh 64 KiB
// allocation that V8 counts as external memory until its ArrayBuffer is
// collected. At full ingest that count swung by tens of MiB between
// scavenges, and with a capped heap (--max-old-space-size=96, as shipped)
// V8 answered with a full mark-compact every 13–36 MiB of audio: 28–76 per
// GiB, and about a third of the process's CPU. A bare server counting the
// same body, with no heap cap, did none. Freed at once, the chunks never
// add up (docs/decisions.md, "Performance").
#ifndef SPEAKERD_FREE_BUFFER_H_
#define SPEAKERD_FREE_BUFFER_H_

#include <napi.h>

namespace speakerd {

void InitFreeBuffer(Napi::Env env, Napi::Object exports);

}  // namespace speakerd

#endif  // SPEAKERD_FREE_BUFFER_H_
