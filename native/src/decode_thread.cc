#include "decode_thread.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace speakerd {

namespace {
constexpr int kDecodeNice = 10;
}  // namespace

DecodeThread::DecodeThread(std::shared_ptr<StreamState> state, std::unique_ptr<StreamInput> input,
                           PlaybackThread* playback, const Options& options)
    : state_(std::move(state)),
      input_(std::move(input)),
      playback_(playback),
      options_(options),
      decoder_(CreateDecoder(options.codec, options.device_format)),
      input_ring_(options.input_bytes, 1),
      wake_fd_(eventfd(0, EFD_CLOEXEC)) {
  summary_.codec = options.codec;
  state_->room_wake_fd.store(wake_fd_, std::memory_order_release);
  // pthread rather than std::thread for pthread_tryjoin_np (TryJoin).
  const int error = pthread_create(
      &thread_, nullptr,
      [](void* self) -> void* {
        static_cast<DecodeThread*>(self)->Run();
        return nullptr;
      },
      this);
  if (error != 0) throw std::system_error(error, std::generic_category(), "starting a decode thread");
}

DecodeThread::~DecodeThread() {
  Join();
  state_->room_wake_fd.store(-1, std::memory_order_release);
  if (wake_fd_ >= 0) close(wake_fd_);
}

size_t DecodeThread::Write(const uint8_t* bytes, size_t count) {
  const size_t written = input_ring_.Write(bytes, count);
  // Announced before the signal, so that the thread sees it when it wakes.
  if (written < count) input_wants_drain_.store(true, std::memory_order_seq_cst);
  Signal();
  return written;
}

void DecodeThread::EndInput() {
  input_ended_.store(true, std::memory_order_release);
  Signal();
}

void DecodeThread::Stop() {
  stop_.store(true, std::memory_order_release);
  Signal();
}

void DecodeThread::Join() {
  Stop();
  if (!joined_) pthread_join(thread_, nullptr);
  joined_ = true;
}

bool DecodeThread::TryJoin() {
  if (!joined_ && pthread_tryjoin_np(thread_, nullptr) == 0) joined_ = true;
  return joined_;
}

DecodeSummary DecodeThread::Summary() const {
  std::lock_guard<std::mutex> lock(summary_mutex_);
  return summary_;
}

void DecodeThread::Signal() {
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
}

void DecodeThread::Sleep() {
  slots_.Release();
  uint64_t count;
  while (read(wake_fd_, &count, sizeof count) < 0 && errno == EINTR) {
  }
  slots_.Acquire(&hold_);
}

void DecodeThread::Run() {
  // Decoding is batch work that only has to stay ahead of the ring: behind
  // the JS thread (which answers probes and reads sockets) and far behind
  // the playback thread. With 8 unpaced decodes at the default nice the JS
  // thread waited for a CPU 400-850 ms of every second on 2 cores; at nice
  // 10, 130-190 (docs/decisions.md, "Compressed audio"). Raising one's own
  // nice value needs no privilege; if the seccomp profile refuses it, the
  // thread decodes at the default.
  (void)!setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), kDecodeNice);
  pthread_setname_np(pthread_self(), "speakerd-decode");  // for top -H and /proc: 15 characters at most
  // Held while decoding, given up in Sleep() and between packets (Emit).
  slots_.Acquire(&hold_);
  DecodeReport report = decoder_->Run(this, this);
  // The converter's tail (the resampler's last samples) plays too, unless
  // the stream is being stopped.
  if (!stopping()) FinishInput();
  {
    std::lock_guard<std::mutex> lock(summary_mutex_);
    // A refusal in Emit (a format change, an unplayable format) is the
    // reason decoding stopped; it wins over what the codec saw after it.
    if (summary_.report.error.ok()) {
      summary_.report.error = std::move(report.error);
    }
    summary_.report.decode_errors = report.decode_errors;
    summary_.report.truncated = report.truncated;
  }
  // Release: the summary above is visible to whoever sees the stream ended
  // (the playback thread, then JS through its 'done').
  state_->ended.store(true, std::memory_order_release);
  playback_->ProducerProgress();
  slots_.Release();
}

size_t DecodeThread::Read(uint8_t* dst, size_t max) {
  for (;;) {
    if (stopping()) return 0;
    const size_t readable = input_ring_.Readable();
    if (readable > 0) {
      const StreamRing::Regions regions = input_ring_.Peek(std::min(readable, max));
      std::memcpy(dst, regions.first, regions.first_frames);
      std::memcpy(dst + regions.first_frames, regions.second, regions.second_frames);
      input_ring_.Consume(regions.frames());
      // Room for JS again: wake a blocked writer once half the ring is free,
      // so that it writes big chunks rather than many small ones.
      if (input_wants_drain_.load(std::memory_order_seq_cst) &&
          input_ring_.capacity() - input_ring_.Fill() >= input_ring_.capacity() / 2 &&
          input_wants_drain_.exchange(false, std::memory_order_acq_rel)) {
        playback_->RaiseFromProducer(state_.get(), kStreamDrain);
      }
      return regions.frames();
    }
    // Acquire pairs with EndInput's release: every byte written before the
    // end is visible now, so a last look at the ring is final.
    if (input_ended_.load(std::memory_order_acquire) && input_ring_.Readable() == 0) return 0;
    if (input_wants_drain_.exchange(false, std::memory_order_acq_rel)) {
      playback_->RaiseFromProducer(state_.get(), kStreamDrain);
    }
    // A burst of decoding ends here: what it queued must not wait.
    if (unannounced_) {
      unannounced_ = false;
      playback_->ProducerProgress();
    }
    Sleep();
  }
}

void DecodeThread::WakePlayback(bool blocked) {
  // As the JS thread's writes do (turn_end_wakes.h): a wake, which costs the
  // playback thread a context switch, only when it may be waiting for this
  // stream: the stream still buffers, the ring is half full, or this thread
  // is about to sleep. Otherwise a mark the thread sees before it sleeps.
  // One wake per packet was 700-3000 switches per minute of audio.
  if (blocked || state_->Phase() == StreamPhase::kBuffering || state_->ring.Fill() >= state_->ring.capacity() / 2) {
    unannounced_ = false;
    playback_->ProducerProgress();
    return;
  }
  unannounced_ = true;
  playback_->NoteProgress();
}

bool DecodeThread::Emit(const AudioFormat& format, const uint8_t* frames, size_t count) {
  if (stopping()) return false;
  uint64_t allowed;
  {
    std::lock_guard<std::mutex> lock(summary_mutex_);
    if (!summary_.format_known) {
      DeviceError error;
      if (!input_->SetFormat(format, options_.quality, &error)) {
        summary_.report.error.code = "E_DECODE_FAILED";
        summary_.report.error.message =
            std::string("the ") + CodecName(options_.codec) + " stream's audio cannot be played: " + error.message;
        return false;
      }
      summary_.format = format;
      summary_.format_known = true;
      max_frames_ = static_cast<size_t>(options_.max_seconds * format.rate);
    } else if (format.rate != summary_.format.rate || format.channels != summary_.format.channels ||
               format.format != summary_.format.format) {
      // Played through the same converter, other audio would come out at
      // the wrong speed or channel layout: refused, with what changed.
      summary_.report.error.code = "E_FORMAT_CHANGED";
      summary_.report.error.message = std::string("the ") + CodecName(options_.codec) + " stream changed from " +
                                      std::to_string(summary_.format.rate) + " Hz, " +
                                      std::to_string(summary_.format.channels) + " channels to " +
                                      std::to_string(format.rate) + " Hz, " + std::to_string(format.channels) +
                                      " channels after " + std::to_string(summary_.frames) + " frames";
      return false;
    }
    allowed = std::min<uint64_t>(count, max_frames_ - summary_.frames);
    summary_.frames += allowed;
    if (allowed < count) {
      summary_.too_long = true;
      state_->fade_tail.store(true, std::memory_order_relaxed);  // published by `ended`
    }
  }
  const bool queued = Queue(frames, allowed);
  queued_frames_.store(summary_.frames * options_.device_rate / format.rate, std::memory_order_relaxed);
  // A packet done: a thread waiting for a slot may go first.
  slots_.Yield(&hold_);
  return queued && allowed == count;
}

bool DecodeThread::Queue(const uint8_t* frames, size_t count) {
  const size_t frame_bytes = input_->input_frame_bytes();
  for (;;) {
    const size_t written = input_->Write(frames, count);
    frames += written * frame_bytes;
    count -= written;
    WakePlayback(count > 0);
    if (count == 0) return true;
    if (written == 0) {
      // The ring is full: the playback thread signals once half is free.
      state_->wants_drain.store(true, std::memory_order_seq_cst);
      if (stopping()) return false;
      Sleep();
    }
    if (stopping()) return false;
  }
}

bool DecodeThread::FinishInput() {
  for (;;) {
    if (input_->Finish()) return true;
    state_->wants_drain.store(true, std::memory_order_seq_cst);
    playback_->ProducerProgress();
    if (stopping()) return false;
    Sleep();
    if (stopping()) return false;
  }
}

}  // namespace speakerd
