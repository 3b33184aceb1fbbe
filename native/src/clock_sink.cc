#include "clock_sink.h"

#include <alsa/pcm_external.h>
#include <poll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "ioplug_params.h"
#include "system_clocks.h"

namespace speakerd {
namespace {

struct ClockSink {
  snd_pcm_ioplug_t io{};
  int timer_fd = -1;
  int64_t ppb = 0;                   // the rate's error, in parts per billion
  int timeline_fd = -1;
  int64_t started_ns = 0;            // when the PCM last started
  snd_pcm_uframes_t started_at = 0;  // the hw position it started from
  snd_pcm_uframes_t avail_min = 1;
  bool running = false;
  bool run_ended = false;  // an underrun ended the run; the PCM is not stopped yet
  // Frames handed over in earlier runs, consumed or dropped at their stop:
  // the timeline counts them all, so that its counts stay offsets in what
  // was written (a `file` PCM layered on top records those too).
  uint64_t frames_before_run = 0;
  uint64_t next_timeline_frame = 0;  // the next period boundary to write a line for
  int64_t realtime_offset_ns = 0;    // taken at each start (RealtimeOffsetNs)
};

ClockSink* SinkOf(snd_pcm_ioplug_t* io) { return static_cast<ClockSink*>(io->private_data); }

// Frames consumed in `elapsed_ns` at the sink's true rate, nominal × (1 + ppb / 1e9).
uint64_t FramesIn(const ClockSink* sink, int64_t elapsed_ns) {
  const unsigned __int128 scaled = static_cast<unsigned __int128>(elapsed_ns) * sink->io.rate * (1000000000 + sink->ppb);
  return static_cast<uint64_t>(scaled / 1000000000000000000u);
}

// When, since the start of the run, the sink has consumed `frames` (the inverse of FramesIn).
int64_t NsFor(const ClockSink* sink, uint64_t frames) {
  const unsigned __int128 scaled = static_cast<unsigned __int128>(frames) * 1000000000000000000u;
  return static_cast<int64_t>(scaled / (static_cast<uint64_t>(sink->io.rate) * (1000000000 + sink->ppb)));
}

// Frames the "card" has consumed since start, by the clock.
snd_pcm_uframes_t ClockPosition(const ClockSink* sink) {
  return sink->started_at + FramesIn(sink, MonotonicNowNs() - sink->started_ns);
}

// Writes a line for each period boundary the run has consumed up to `position`.
void WriteTimeline(ClockSink* sink, snd_pcm_uframes_t position) {
  if (sink->timeline_fd < 0 || !sink->running || sink->run_ended) return;
  // Past what was written the clock consumed nothing real: that is an underrun.
  const snd_pcm_uframes_t consumed = (position < sink->io.appl_ptr ? position : sink->io.appl_ptr) - sink->started_at;
  const uint64_t total = sink->frames_before_run + consumed;
  for (; sink->next_timeline_frame <= total; sink->next_timeline_frame += sink->io.period_size) {
    const int64_t at = sink->started_ns + NsFor(sink, sink->next_timeline_frame - sink->frames_before_run) + sink->realtime_offset_ns;
    char line[64];
    const int length = snprintf(line, sizeof line, "%lld %llu\n", static_cast<long long>(at),
                                static_cast<unsigned long long>(sink->next_timeline_frame));
    // A test hook: a line that cannot be written is lost, the audio is not.
    if (write(sink->timeline_fd, line, static_cast<size_t>(length)) < 0) return;
  }
}

int ArmTimer(ClockSink* sink, bool on) {
  itimerspec spec{};
  if (on) {
    const int64_t period_ns = NsFor(sink, sink->io.period_size);
    spec.it_interval.tv_sec = period_ns / 1000000000;
    spec.it_interval.tv_nsec = period_ns % 1000000000;
    spec.it_value = spec.it_interval;
  }
  return timerfd_settime(sink->timer_fd, 0, &spec, nullptr) < 0 ? -errno : 0;
}

int SinkStart(snd_pcm_ioplug_t* io) {
  ClockSink* sink = SinkOf(io);
  sink->started_ns = MonotonicNowNs();
  sink->started_at = io->hw_ptr;
  sink->running = true;
  sink->run_ended = false;
  // Each run's first frame gets a line, whatever the period boundaries say.
  if (sink->next_timeline_frame < sink->frames_before_run) sink->next_timeline_frame = sink->frames_before_run;
  if (sink->timeline_fd >= 0) sink->realtime_offset_ns = RealtimeOffsetNs();
  return ArmTimer(sink, true);
}

// Ends the run at a stop or an underrun: the last lines, and every frame
// handed over counted. At an underrun, not at the prepare that follows it:
// ioplug zeroes its pointers before it calls prepare.
void EndRun(ClockSink* sink) {
  if (!sink->running || sink->run_ended) return;
  WriteTimeline(sink, ClockPosition(sink));
  sink->frames_before_run += sink->io.appl_ptr - sink->started_at;
  sink->run_ended = true;  // it still answers the underrun until it is stopped
}

int SinkStop(snd_pcm_ioplug_t* io) {
  ClockSink* sink = SinkOf(io);
  EndRun(sink);
  sink->running = false;
  return ArmTimer(sink, false);
}

// Also reached straight from XRUN through snd_pcm_recover, without stop.
int SinkPrepare(snd_pcm_ioplug_t* io) { return SinkStop(io); }

snd_pcm_sframes_t SinkPointer(snd_pcm_ioplug_t* io) {
  ClockSink* sink = SinkOf(io);
  if (!sink->running) return static_cast<snd_pcm_sframes_t>(io->hw_ptr % io->buffer_size);
  const snd_pcm_uframes_t position = ClockPosition(sink);
  WriteTimeline(sink, position);
  // The clock ran past what was written: a card would have played stale
  // frames, so report an underrun.
  if (position > io->appl_ptr) {
    EndRun(sink);
    return -EPIPE;
  }
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
  WriteTimeline(sink, position);
  if (position > io->appl_ptr) {
    EndRun(sink);
    *revents = POLLERR;  // an underrun: wake the writer so it recovers
  } else if (io->buffer_size - (io->appl_ptr - position) >= sink->avail_min) {
    *revents = POLLOUT;
  }
  return 0;
}

int SinkClose(snd_pcm_ioplug_t* io) {
  ClockSink* sink = SinkOf(io);
  close(sink->timer_fd);
  if (sink->timeline_fd >= 0) close(sink->timeline_fd);
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

int OpenClockSink(snd_pcm_t** pcm, const char* name, const ClockSinkOptions& options) {
  if (!(std::fabs(options.ppm) <= kMaxClockPpm)) return -EINVAL;
  auto* sink = new ClockSink();
  sink->ppb = std::llround(options.ppm * 1000);
  sink->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (sink->timer_fd < 0) {
    const int err = -errno;
    delete sink;
    return err;
  }
  if (!options.timeline.empty()) {
    sink->timeline_fd = open(options.timeline.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (sink->timeline_fd < 0) {
      const int err = -errno;
      close(sink->timer_fd);
      delete sink;
      return err;
    }
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
    if (sink->timeline_fd >= 0) close(sink->timeline_fd);
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

namespace {

// A number in the configuration: an integer, a real, or a string holding one.
int ConfigNumber(snd_config_t* node, double* value) {
  if (snd_config_get_ireal(node, value) == 0) return 0;
  const char* text = nullptr;
  if (snd_config_get_string(node, &text) < 0) return -EINVAL;
  char* end = nullptr;
  *value = std::strtod(text, &end);
  return end != text && *end == '\0' ? 0 : -EINVAL;
}

}  // namespace

// `type speakerd_clock` in an ALSA configuration (see clock_sink.h).
extern "C" SND_PCM_PLUGIN_DEFINE_FUNC(speakerd_clock) {
  (void)root;
  (void)mode;
  speakerd::ClockSinkOptions options;
  snd_config_iterator_t i, next;
  snd_config_for_each(i, next, conf) {
    snd_config_t* node = snd_config_iterator_entry(i);
    const char* id = nullptr;
    if (snd_config_get_id(node, &id) < 0) continue;
    if (!std::strcmp(id, "comment") || !std::strcmp(id, "type") || !std::strcmp(id, "hint")) continue;
    if (!std::strcmp(id, "ppm")) {
      if (ConfigNumber(node, &options.ppm) < 0 || !(std::fabs(options.ppm) <= speakerd::kMaxClockPpm)) {
        SNDERR("%s: ppm must be a number from -%g to %g", name, speakerd::kMaxClockPpm, speakerd::kMaxClockPpm);
        return -EINVAL;
      }
      continue;
    }
    if (!std::strcmp(id, "timeline")) {
      const char* path = nullptr;
      if (snd_config_get_string(node, &path) < 0) {
        SNDERR("%s: timeline must be a file path", name);
        return -EINVAL;
      }
      options.timeline = path;
      continue;
    }
    SNDERR("%s: unknown field %s (speakerd_clock takes ppm and timeline)", name, id);
    return -EINVAL;
  }
  if (stream != SND_PCM_STREAM_PLAYBACK) {
    SNDERR("%s: speakerd_clock is a playback PCM", name);
    return -EINVAL;
  }
  return speakerd::OpenClockSink(pcmp, name, options);
}
// Spelled out, not SND_PCM_PLUGIN_SYMBOL(speakerd_clock): in a static build
// that macro registers the name unexpanded ("SND_PCM_PLUGIN_ENTRY(...)"),
// which no lookup ever matches.
SND_DLSYM_BUILD_VERSION(_snd_pcm_speakerd_clock_open, SND_PCM_DLSYM_VERSION)
