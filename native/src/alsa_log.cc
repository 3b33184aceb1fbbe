#include "alsa_log.h"

#include <alsa/asoundlib.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>

namespace speakerd {
namespace {

thread_local AlsaLogScope* current_scope = nullptr;
thread_local std::function<void(std::string)>* current_sink = nullptr;

void HandleAlsaError(const char* file, int line, const char* function, int err, const char* fmt, ...) {
  (void)file;
  (void)line;
  char text[512];
  va_list args;
  va_start(args, fmt);
  vsnprintf(text, sizeof text, fmt, args);
  va_end(args);
  // The source file and line are alsa-lib's build paths; the function name and
  // the errno are what help a reader.
  std::string message = std::string(function ? function : "alsa") + ": " + text;
  if (err != 0) message += std::string(" (") + snd_strerror(err) + ")";
  if (current_sink != nullptr) {
    (*current_sink)(std::move(message));
  } else {
    fprintf(stderr, "speakerd alsa-lib: %s\n", message.c_str());
  }
}

}  // namespace

void InstallAlsaLogHandler() {
  static std::once_flag once;
  std::call_once(once, [] { snd_lib_error_set_handler(HandleAlsaError); });
}

AlsaLogScope::AlsaLogScope(std::function<void(std::string)> sink)
    : sink_(std::move(sink)), previous_(current_scope) {
  current_scope = this;
  current_sink = &sink_;
}

AlsaLogScope::~AlsaLogScope() {
  current_scope = previous_;
  current_sink = previous_ ? &previous_->sink_ : nullptr;
}

}  // namespace speakerd
