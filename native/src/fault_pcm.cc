#include "fault_pcm.h"

#include <alsa/pcm_external.h>
#include <poll.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "ioplug_params.h"

namespace speakerd {
namespace {

// What a definition has done so far in this process.
struct FaultHistory {
  int64_t opens = 0;
  int64_t faults = 0;
};

std::mutex history_mutex;
std::map<std::string, FaultHistory>& Histories() {
  static auto* histories = new std::map<std::string, FaultHistory>();  // never destroyed: used from any thread at exit
  return *histories;
}

struct FaultPcm {
  snd_pcm_ioplug_t io{};
  snd_pcm_t* slave = nullptr;
  // The poll descriptor is the write end of a pipe nobody writes to: always
  // writable, as the slave consumes as fast as it is fed. A fault closes the
  // read end, and the write end then reports POLLERR to every poll, even one
  // that asked for no events: that is how a card's descriptor wakes a waiter
  // when the card goes away.
  int poll_fd = -1;
  std::atomic<int> poll_peer{-1};
  int64_t fail_at_frame = -1;  // -1 for an instance that never fails at a frame
  int fail_errno = ENODEV;
  bool disconnect = false;
  std::string name;
  uint64_t written = 0;  // frames passed to the slave since open
  int broken = 0;        // errno mode: the negative errno every call answers once failed
  bool disconnected = false;
  snd_pcm_uframes_t frozen_pointer = 0;  // disconnect mode: the hardware pointer from the fault on
  // fail_after_ms: a timer thread only raises the flag and wakes pollers; the
  // fault is applied by the next callback, on the thread that uses the PCM,
  // because alsa-lib's state is not meant to change under its user.
  std::thread timer;
  std::mutex timer_mutex;
  std::condition_variable timer_cancel;
  bool closing = false;
  std::atomic<bool> timer_fired{false};
};

FaultPcm* FaultOf(snd_pcm_ioplug_t* io) { return static_cast<FaultPcm*>(io->private_data); }

int ErrnoFromName(const char* name) {
  static const struct {
    const char* name;
    int value;
  } kNames[] = {{"ENODEV", ENODEV}, {"EBADFD", EBADFD}, {"EIO", EIO},       {"EBUSY", EBUSY},   {"EACCES", EACCES},
                {"EPERM", EPERM},   {"ENOENT", ENOENT}, {"ENXIO", ENXIO},   {"EPIPE", EPIPE},   {"ESTRPIPE", ESTRPIPE},
                {"EAGAIN", EAGAIN}, {"EINVAL", EINVAL}, {"ENOMEM", ENOMEM}, {"ETIMEDOUT", ETIMEDOUT}};
  for (const auto& entry : kNames) {
    if (std::strcmp(entry.name, name) == 0) return entry.value;
  }
  return 0;
}

int Malformed(DeviceError* error, const std::string& pcm, const std::string& problem) {
  error->code = "E_ALSA_CONFIG";
  error->errnum = EINVAL;
  error->message = "PCM \"" + pcm + "\" (type " + kFaultPcmType + "): " + problem;
  return -EINVAL;
}

// Reads one field of the definition into *spec.
int ReadField(snd_config_t* field, const std::string& pcm, FaultSpec* spec, DeviceError* error) {
  const char* id = nullptr;
  snd_config_get_id(field, &id);
  const std::string key = id;
  if (key == "type" || key == "comment" || key == "hint") return 0;
  if (key == "slave") {
    snd_config_t* slave_pcm = nullptr;
    const char* slave = nullptr;
    if (snd_config_search(field, "pcm", &slave_pcm) < 0 || snd_config_get_string(slave_pcm, &slave) < 0) {
      return Malformed(error, pcm, "slave.pcm must name the PCM that receives the frames");
    }
    spec->slave = slave;
    return 0;
  }
  if (key == "fail_errno" || key == "refuse_errno") {
    int value = 0;
    const char* text = nullptr;
    long number = 0;
    if (snd_config_get_string(field, &text) >= 0) {
      value = ErrnoFromName(text);
    } else if (snd_config_get_integer(field, &number) >= 0) {
      value = static_cast<int>(number);
    }
    if (value <= 0) return Malformed(error, pcm, key + " must be an errno name such as ENODEV, or a positive number");
    (key == "fail_errno" ? spec->fail_errno : spec->refuse_errno) = value;
    return 0;
  }
  if (key == "refuse_while_file") {
    const char* file = nullptr;
    if (snd_config_get_string(field, &file) < 0 || *file == '\0') {
      return Malformed(error, pcm, "refuse_while_file must name a file");
    }
    spec->refuse_while_file = file;
    return 0;
  }
  if (key == "fail_mode") {
    const char* mode = nullptr;
    if (snd_config_get_string(field, &mode) < 0 || (std::strcmp(mode, "errno") != 0 && std::strcmp(mode, "disconnect") != 0)) {
      return Malformed(error, pcm, "fail_mode must be errno or disconnect");
    }
    spec->disconnect = std::strcmp(mode, "disconnect") == 0;
    return 0;
  }
  int64_t* target = key == "fail_at_frame"   ? &spec->fail_at_frame
                    : key == "fail_after_ms" ? &spec->fail_after_ms
                    : key == "fail_times"    ? &spec->fail_times
                    : key == "refuse_opens"  ? &spec->refuse_opens
                    : key == "refuse_from"   ? &spec->refuse_from
                    : key == "open_delay_ms" ? &spec->open_delay_ms
                    : key == "delay_opens"   ? &spec->delay_opens
                                             : nullptr;
  if (target == nullptr) return Malformed(error, pcm, "unknown field " + key);
  // The parser stores small numbers as INTEGER and large ones as INTEGER64.
  long number = 0;
  long long number64 = 0;
  if (snd_config_get_integer(field, &number) >= 0) {
    number64 = number;
  } else if (snd_config_get_integer64(field, &number64) < 0) {
    number64 = -1;
  }
  if (number64 < 0) return Malformed(error, pcm, key + " must be a whole number >= 0");
  *target = number64;
  return 0;
}

// Moves `frames` frames at `offset` of the mmap area on to the slave.
int PassOn(FaultPcm* fault, const snd_pcm_channel_area_t* areas, snd_pcm_uframes_t offset, snd_pcm_uframes_t frames) {
  const uint8_t* data = static_cast<const uint8_t*>(areas[0].addr) + (areas[0].first + offset * areas[0].step) / 8;
  const size_t frame_bytes = areas[0].step / 8;
  while (frames > 0) {
    const snd_pcm_sframes_t n = snd_pcm_writei(fault->slave, data, frames);
    if (n == -EPIPE) {
      snd_pcm_prepare(fault->slave);
      continue;
    }
    if (n < 0) return static_cast<int>(n);
    data += static_cast<size_t>(n) * frame_bytes;
    frames -= static_cast<snd_pcm_uframes_t>(n);
    fault->written += static_cast<uint64_t>(n);
  }
  return 0;
}

bool Failed(const FaultPcm* fault) { return fault->broken != 0 || fault->disconnected; }

void WakePollers(FaultPcm* fault) {
  const int peer = fault->poll_peer.exchange(-1);
  if (peer >= 0) close(peer);
}

// The device goes away. `played` is where the hardware pointer stops.
void Fail(FaultPcm* fault, snd_pcm_uframes_t played) {
  snd_pcm_drop(fault->slave);  // what came before the fault has played (flushed to a file slave)
  if (fault->disconnect) {
    fault->disconnected = true;
    fault->frozen_pointer = played;
    snd_pcm_ioplug_set_state(&fault->io, SND_PCM_STATE_DISCONNECTED);
  } else {
    fault->broken = -fault->fail_errno;
  }
  WakePollers(fault);
}

void ApplyTimerFault(FaultPcm* fault) {
  if (!Failed(fault) && fault->timer_fired.load(std::memory_order_acquire)) Fail(fault, fault->io.appl_ptr);
}

// Answer of start, stop, prepare and hw_params once failed, as the kernel's
// ioctls answer on a disconnected card.
int ControlAnswer(FaultPcm* fault) {
  ApplyTimerFault(fault);
  return fault->disconnected ? -ENODEV : fault->broken;
}

snd_pcm_sframes_t FaultTransfer(snd_pcm_ioplug_t* io, const snd_pcm_channel_area_t* areas, snd_pcm_uframes_t offset,
                                snd_pcm_uframes_t size) {
  FaultPcm* fault = FaultOf(io);
  ApplyTimerFault(fault);
  if (fault->broken) return fault->broken;
  if (fault->disconnected) return static_cast<snd_pcm_sframes_t>(size);  // taken, never played
  snd_pcm_uframes_t take = size;
  const bool fails_here = fault->fail_at_frame >= 0 && fault->written + size > static_cast<uint64_t>(fault->fail_at_frame);
  if (fails_here) take = static_cast<snd_pcm_uframes_t>(fault->fail_at_frame - static_cast<int64_t>(fault->written));
  const int err = PassOn(fault, areas, offset, take);
  if (err < 0) return err;
  if (!fails_here) return static_cast<snd_pcm_sframes_t>(size);
  // The device goes away mid-chunk: what came before the fault frame has
  // played, the rest never will.
  Fail(fault, io->appl_ptr + take);
  return fault->disconnected ? static_cast<snd_pcm_sframes_t>(size) : fault->broken;
}

snd_pcm_sframes_t FaultPointer(snd_pcm_ioplug_t* io) {
  FaultPcm* fault = FaultOf(io);
  ApplyTimerFault(fault);
  if (fault->broken) return fault->broken;
  if (fault->disconnected) return static_cast<snd_pcm_sframes_t>(fault->frozen_pointer);
  // Everything committed has been passed on: the hardware pointer is the
  // application pointer (reported up to the boundary, see FLAG_BOUNDARY_WA).
  return static_cast<snd_pcm_sframes_t>(io->appl_ptr);
}

int FaultStart(snd_pcm_ioplug_t* io) { return ControlAnswer(FaultOf(io)); }

int FaultStop(snd_pcm_ioplug_t* io) {
  FaultPcm* fault = FaultOf(io);
  const int failed = ControlAnswer(fault);
  if (failed != 0) return failed;
  return snd_pcm_drop(fault->slave);  // also flushes a file slave's buffer
}

int FaultPrepare(snd_pcm_ioplug_t* io) {
  FaultPcm* fault = FaultOf(io);
  const int failed = ControlAnswer(fault);
  if (failed != 0) return failed;
  return snd_pcm_prepare(fault->slave);
}

int FaultHwParams(snd_pcm_ioplug_t* io, snd_pcm_hw_params_t*) {
  FaultPcm* fault = FaultOf(io);
  const int failed = ControlAnswer(fault);
  if (failed != 0) return failed;
  const unsigned latency_us = static_cast<unsigned>(static_cast<uint64_t>(io->buffer_size) * 1000000 / io->rate);
  return snd_pcm_set_params(fault->slave, io->format, SND_PCM_ACCESS_RW_INTERLEAVED, io->channels, io->rate, 0,
                            latency_us);
}

int FaultPollRevents(snd_pcm_ioplug_t* io, struct pollfd*, unsigned int, unsigned short* revents) {
  FaultPcm* fault = FaultOf(io);
  ApplyTimerFault(fault);
  *revents = fault->disconnected ? POLLERR | POLLNVAL : fault->broken ? POLLERR : POLLOUT;
  return 0;
}

int FaultClose(snd_pcm_ioplug_t* io) {
  FaultPcm* fault = FaultOf(io);
  if (fault->timer.joinable()) {
    {
      std::lock_guard<std::mutex> lock(fault->timer_mutex);
      fault->closing = true;
    }
    fault->timer_cancel.notify_all();
    fault->timer.join();
  }
  if (fault->slave != nullptr) {
    if (!Failed(fault)) snd_pcm_drop(fault->slave);
    snd_pcm_close(fault->slave);
  }
  WakePollers(fault);
  if (fault->poll_fd >= 0) close(fault->poll_fd);
  delete fault;
  return 0;
}

// fail_after_ms: sleeps until the fault time or the close.
void RunTimer(FaultPcm* fault, int64_t after_ms) {
  std::unique_lock<std::mutex> lock(fault->timer_mutex);
  if (fault->timer_cancel.wait_for(lock, std::chrono::milliseconds(after_ms), [fault] { return fault->closing; })) return;
  fault->timer_fired.store(true, std::memory_order_release);
  WakePollers(fault);
}

const snd_pcm_ioplug_callback_t kCallbacks = [] {
  snd_pcm_ioplug_callback_t callbacks{};
  callbacks.start = FaultStart;
  callbacks.stop = FaultStop;
  callbacks.prepare = FaultPrepare;
  callbacks.pointer = FaultPointer;
  callbacks.transfer = FaultTransfer;
  callbacks.hw_params = FaultHwParams;
  callbacks.poll_revents = FaultPollRevents;
  callbacks.close = FaultClose;
  return callbacks;
}();

}  // namespace

int FindFaultSpec(snd_config_t* config, const std::string& name, FaultSpec* spec, DeviceError* error) {
  snd_config_t* pcms = nullptr;
  if (snd_config_search(config, "pcm", &pcms) < 0) return 0;
  snd_config_t* definition = nullptr;
  snd_config_iterator_t i, next;
  snd_config_for_each(i, next, pcms) {
    snd_config_t* candidate = snd_config_iterator_entry(i);
    const char* id = nullptr;
    if (snd_config_get_id(candidate, &id) >= 0 && name == id) definition = candidate;
  }
  if (definition == nullptr || snd_config_get_type(definition) != SND_CONFIG_TYPE_COMPOUND) return 0;
  snd_config_t* type_node = nullptr;
  const char* type = nullptr;
  if (snd_config_search(definition, "type", &type_node) < 0 || snd_config_get_string(type_node, &type) < 0 ||
      std::strcmp(type, kFaultPcmType) != 0) {
    return 0;
  }
  *spec = FaultSpec{};
  spec->name = name;
  snd_config_for_each(i, next, definition) {
    const int err = ReadField(snd_config_iterator_entry(i), name, spec, error);
    if (err < 0) return err;
  }
  if (spec->slave.empty()) return Malformed(error, name, "slave.pcm must name the PCM that receives the frames");
  return 1;
}

int OpenFaultPcm(snd_pcm_t** pcm, const FaultSpec& spec, snd_config_t* config) {
  int64_t open_number;
  {
    std::lock_guard<std::mutex> lock(history_mutex);
    open_number = ++Histories()[spec.name].opens;
  }
  if (spec.open_delay_ms > 0 && (spec.delay_opens < 0 || open_number <= spec.delay_opens)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(spec.open_delay_ms));
  }
  if (open_number >= spec.refuse_from && open_number < spec.refuse_from + spec.refuse_opens) return -spec.refuse_errno;
  if (!spec.refuse_while_file.empty() && open_number >= spec.refuse_from && access(spec.refuse_while_file.c_str(), F_OK) == 0) {
    return -spec.refuse_errno;
  }

  auto* fault = new FaultPcm();
  fault->name = spec.name;
  fault->fail_errno = spec.fail_errno;
  bool fails = false;
  if (spec.fail_at_frame >= 0 || spec.fail_after_ms >= 0) {
    // Decided and counted in one step, so that overlapping opens cannot both
    // take the last of fail_times; counted at open, not when it fires: an
    // instance closed before its fault frame still used one up.
    std::lock_guard<std::mutex> lock(history_mutex);
    FaultHistory& history = Histories()[spec.name];
    fails = spec.fail_times < 0 || history.faults < spec.fail_times;
    if (fails) ++history.faults;
  }
  fault->fail_at_frame = fails ? spec.fail_at_frame : -1;
  fault->disconnect = spec.disconnect;
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC) < 0) {
    const int err = -errno;
    delete fault;
    return err;
  }
  fault->poll_peer.store(pipe_fds[0]);
  fault->poll_fd = pipe_fds[1];
  int err = snd_pcm_open_lconf(&fault->slave, spec.slave.c_str(), SND_PCM_STREAM_PLAYBACK, 0, config);
  if (err < 0) {
    fault->slave = nullptr;
    WakePollers(fault);
    close(fault->poll_fd);
    delete fault;
    return err;
  }
  fault->io.version = SND_PCM_IOPLUG_VERSION;
  fault->io.name = "speakerd fault-injecting PCM";
  fault->io.callback = &kCallbacks;
  fault->io.private_data = fault;
  fault->io.poll_fd = fault->poll_fd;
  fault->io.poll_events = POLLOUT;
  fault->io.mmap_rw = 1;
  fault->io.flags = SND_PCM_IOPLUG_FLAG_BOUNDARY_WA;
  err = snd_pcm_ioplug_create(&fault->io, spec.name.c_str(), SND_PCM_STREAM_PLAYBACK, SND_PCM_NONBLOCK);
  if (err < 0) {
    snd_pcm_close(fault->slave);
    WakePollers(fault);
    close(fault->poll_fd);
    delete fault;
    return err;
  }
  err = ConstrainToMixerFormats(&fault->io);
  if (err < 0) {
    snd_pcm_ioplug_delete(&fault->io);  // runs FaultClose
    return err;
  }
  if (fails && spec.fail_after_ms >= 0) fault->timer = std::thread(RunTimer, fault, spec.fail_after_ms);
  *pcm = fault->io.pcm;
  return 0;
}

}  // namespace speakerd
