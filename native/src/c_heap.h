// The C heap (glibc malloc) as the service sees it: what is in use, for leak
// checks, and handing free pages back to the kernel once the service is idle.
//
// Why hand them back: glibc keeps what it freed. V8's GC helper threads take
// 32 KiB blocks from malloc by the thousand while a long upload runs, and
// the JS thread takes and frees body chunks; the arenas' free lists then
// hold megabytes of touched pages with a fraction of them in use (2.7 MB
// held for 0.23 MB in use in the helpers' arena after 2 GiB of FLAC on
// Node 24). Under a container's memory limit those pages count as the
// service's. malloc_trim(0) gives back every free page of every arena, not
// only the top of the main one, as free() does on its own; here on a libuv
// pool thread, since it takes milliseconds.
#ifndef SPEAKERD_C_HEAP_H_
#define SPEAKERD_C_HEAP_H_

#include <napi.h>

namespace speakerd {

void InitCHeap(Napi::Env env, Napi::Object exports);

}  // namespace speakerd

#endif  // SPEAKERD_C_HEAP_H_
