// Routes alsa-lib's error printing (normally straight to stderr, with build
// paths in it) into whoever is doing ALSA work on the current thread: an open
// collects the lines into its error, the playback thread forwards them to the
// device's log. Without a collector the line goes to stderr, prefixed.
#pragma once

#include <functional>
#include <string>

namespace speakerd {

// Installs the handler; idempotent, safe from any thread.
void InstallAlsaLogHandler();

// While alive, alsa-lib lines printed on this thread go to `sink`.
class AlsaLogScope {
 public:
  explicit AlsaLogScope(std::function<void(std::string)> sink);
  ~AlsaLogScope();
  AlsaLogScope(const AlsaLogScope&) = delete;
  AlsaLogScope& operator=(const AlsaLogScope&) = delete;

 private:
  std::function<void(std::string)> sink_;
  AlsaLogScope* previous_;
};

}  // namespace speakerd
