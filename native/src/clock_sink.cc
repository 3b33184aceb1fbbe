#include "clock_sink.h"

#include <alsa/pcm_external.h>
#include <poll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "ioplug_params.h"

namespace speakerd {
namespace {

struct ClockSink {
  snd_pcm_ioplug_t io{};
  int timer_fd = -1;
  int64_t started_ns = 0;            // when the PCM last started
  snd_pcm_uframes_t started_at = 0;  // the hw position it started from
  snd_pcm_uframes_t avail_min = 1;
  bool running = false;
};

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

ClockSink* SinkOf(snd_pcm_ioplug_t* io) { return static_cast<ClockSink*>(io->private_data); }

// Frames the "card" has consumed since start, by the clock.
snd_pcm_uframes_t ClockPosition(const ClockSink* sink) {
  const int64_t elapsed_ns = MonotonicNs() - sink->started_ns;
  const unsigned __int128 frames = static_cast<unsigned __int128>(elapsed_ns) * sink->io.rate / 1000000000u;
  return sink->started_at + static_cast<snd_pcm_uframes_t>(frames);
}

int ArmTimer(ClockSink* sink, bool on) {
  itimerspec spec{};
  if (on) {
    const int64_t period_ns = static_cast<int64_t>(sink->io.period_size) * 1000000000 / sink->io.rate;
    spec.it_interval.tv_sec = period_ns / 1000000000;
    spec.it_interval.tv_nsec = period_ns % 1000000000;
    spec.it_value = spec.it_interval;
  }
  return timerfd_settime(sink->timer_fd, 0, &spec, nullptr) < 0 ? -errno : 0;
}

int SinkStart(snd_pcm_ioplug_t* io) {
  ClockSink* sink = SinkOf(io);
  sink->started_ns = MonotonicNs();
  sink->started_at = io->hw_ptr;
  sink->running = true;
  return ArmTimer(sink, true);
}

int SinkStop(snd_pcm_ioplug_t* io) {
  ClockSink* sink = SinkOf(io);
  sink->running = false;
  return ArmTimer(sink, false);
}

// Also reached straight from XRUN through snd_pcm_recover, without stop.
int SinkPrepare(snd_pcm_ioplug_t* io) { return SinkStop(io); }

snd_pcm_sframes_t SinkPointer(snd_pcm_ioplug_t* io) {
  ClockSink* sink = SinkOf(io);
  if (!sink->running) return static_cast<snd_pcm_sframes_t>(io->hw_ptr % io->buffer_size);
  const snd_pcm_uframes_t position = ClockPosition(sink);
  // The clock ran past what was written: a card would have played stale
  // frames, so report an underrun.
  if (position > io->appl_ptr) return -EPIPE;
  return static_cast<snd_pcm_sframes_t>(position % io->buffer_size);
}

int SinkSwParams(snd_pcm_ioplug_t* io, snd_pcm_sw_params_t* params) {
  snd_pcm_uframes_t avail_min = 1;
  snd_pcm_sw_params_get_avail_min(params, &avail_min);
  SinkOf(io)->avail_min = avail_min ? avail_min : 1;
  return 0;
}

int SinkPollRevents(snd_pcm_ioplug_t* io, struct pollfd* pfds, unsigned int nfds, unsigned short* revents) {
  ClockSink* sink = SinkOf(io);
  if (nfds >= 1 && (pfds[0].revents & POLLIN)) {
    uint64_t expirations;
    // Clears the timerfd; EAGAIN just means it was already cleared.
    while (read(sink->timer_fd, &expirations, sizeof expirations) < 0 && errno == EINTR) {
    }
  }
  *revents = 0;
  if (!sink->running) {
    *revents = POLLOUT;
    return 0;
  }
  const snd_pcm_uframes_t position = ClockPosition(sink);
  if (position > io->appl_ptr) {
    *revents = POLLERR;  // an underrun: wake the writer so it recovers
  } else if (io->buffer_size - (io->appl_ptr - position) >= sink->avail_min) {
    *revents = POLLOUT;
  }
  return 0;
}

int SinkClose(snd_pcm_ioplug_t* io) {
  ClockSink* sink = SinkOf(io);
  close(sink->timer_fd);
  delete sink;
  return 0;
}

const snd_pcm_ioplug_callback_t kCallbacks = [] {
  snd_pcm_ioplug_callback_t callbacks{};
  callbacks.start = SinkStart;
  callbacks.stop = SinkStop;
  callbacks.prepare = SinkPrepare;
  callbacks.pointer = SinkPointer;
  callbacks.close = SinkClose;
  callbacks.sw_params = SinkSwParams;
  callbacks.poll_revents = SinkPollRevents;
  return callbacks;
}();

}  // namespace

int OpenClockSink(snd_pcm_t** pcm, const char* name) {
  auto* sink = new ClockSink();
  sink->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (sink->timer_fd < 0) {
    const int err = -errno;
    delete sink;
    return err;
  }
  sink->io.version = SND_PCM_IOPLUG_VERSION;
  sink->io.name = "speakerd clock sink";
  sink->io.callback = &kCallbacks;
  sink->io.private_data = sink;
  sink->io.poll_fd = sink->timer_fd;
  sink->io.poll_events = POLLIN;
  // The plugin keeps its own buffer and presents it as mmap'ed memory, so the
  // playback thread's mmap_begin/commit path is the one hardware sees.
  sink->io.mmap_rw = 1;
  int err = snd_pcm_ioplug_create(&sink->io, name, SND_PCM_STREAM_PLAYBACK, SND_PCM_NONBLOCK);
  if (err < 0) {
    close(sink->timer_fd);
    delete sink;
    return err;
  }
  err = ConstrainToMixerFormats(&sink->io);
  if (err < 0) {
    snd_pcm_ioplug_delete(&sink->io);  // runs SinkClose
    return err;
  }
  *pcm = sink->io.pcm;
  return 0;
}

}  // namespace speakerd
