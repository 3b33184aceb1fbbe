/*
 * A recording that says when each frame was captured: arecord with a
 * timeline. The guest tests use it on snd-aloop's capture side to time
 * what speakerd played on the other, by the driver's own reports, as an
 * application on a real card would time a recording.
 *
 *   capture-timeline PCM RAW TIMELINE
 *
 * Records S16_LE stereo 48 kHz from PCM into RAW until SIGINT or SIGTERM.
 * TIMELINE gets a line per report, "<CLOCK_REALTIME ns> <frames>": by that
 * time the card had captured that many frames since the recording began
 * (snd_pcm_status: the time of its last hardware pointer update, and the
 * frames it holds that were not read yet). bundle-guest-tests.mjs builds it
 * against the static alsa-lib in deps/.
 */
#include <alsa/asoundlib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static volatile sig_atomic_t stopping = 0;

static void on_signal(int signal_number) {
  (void)signal_number;
  stopping = 1;
}

static int fail(const char* what, int err) {
  fprintf(stderr, "capture-timeline: %s: %s\n", what, snd_strerror(err));
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: capture-timeline PCM RAW TIMELINE\n");
    return 2;
  }
  FILE* raw = fopen(argv[2], "wb");
  FILE* timeline = fopen(argv[3], "w");
  if (raw == NULL || timeline == NULL) {
    perror("capture-timeline: cannot create the output");
    return 1;
  }
  struct sigaction action = {0};
  action.sa_handler = on_signal;  /* no SA_RESTART: the blocked read returns */
  sigaction(SIGINT, &action, NULL);
  sigaction(SIGTERM, &action, NULL);

  snd_pcm_t* pcm;
  int err = snd_pcm_open(&pcm, argv[1], SND_PCM_STREAM_CAPTURE, 0);
  if (err < 0) return fail("open", err);
  /* A 170 ms buffer in four periods: a report every 42 ms. */
  err = snd_pcm_set_params(pcm, SND_PCM_FORMAT_S16_LE, SND_PCM_ACCESS_RW_INTERLEAVED, 2, 48000, 0, 170000);
  if (err < 0) return fail("set_params", err);
  snd_pcm_sw_params_t* sw;
  snd_pcm_sw_params_alloca(&sw);
  snd_pcm_sw_params_current(pcm, sw);
  /* Start at the first read (set_params waits for a whole buffer, which a
     blocking read of a period never asks for). */
  snd_pcm_sw_params_set_start_threshold(pcm, sw, 1);
  snd_pcm_sw_params_set_tstamp_mode(pcm, sw, SND_PCM_TSTAMP_ENABLE);
  snd_pcm_sw_params_set_tstamp_type(pcm, sw, SND_PCM_TSTAMP_TYPE_GETTIMEOFDAY);
  err = snd_pcm_sw_params(pcm, sw);
  if (err < 0) return fail("sw_params", err);

  int16_t buffer[1024 * 2];
  unsigned long long read_frames = 0;
  snd_pcm_status_t* status;
  snd_pcm_status_alloca(&status);
  while (!stopping) {
    const snd_pcm_sframes_t got = snd_pcm_readi(pcm, buffer, 1024);
    if (got == -EINTR) continue;
    if (got < 0) return fail("read (an overrun loses frames, and the timeline with them)", (int)got);
    fwrite(buffer, 4, (size_t)got, raw);
    read_frames += (unsigned long long)got;
    if (snd_pcm_status(pcm, status) < 0 || snd_pcm_status_get_state(status) != SND_PCM_STATE_RUNNING) continue;
    snd_htimestamp_t at;
    snd_pcm_status_get_htstamp(status, &at);
    if (at.tv_sec == 0 && at.tv_nsec == 0) continue; /* no pointer update yet */
    fprintf(timeline, "%lld %llu\n", (long long)at.tv_sec * 1000000000LL + at.tv_nsec,
            read_frames + (unsigned long long)snd_pcm_status_get_delay(status));
  }
  snd_pcm_close(pcm);
  fclose(raw);
  fclose(timeline);
  return 0;
}
