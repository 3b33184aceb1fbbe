// The device clock (native/src/device_clock.cc) against drivers whose
// reports are modelled exactly, with the time injected: each scenario knows
// when every frame truly reaches the DAC, feeds the clock the reports such a
// driver gives, and prints how far the clock's line is from the truth.
// test/native/device-clock.test.ts builds and runs it and holds the figures.
//
//   device_clock_harness
//
// One line per scenario:
//   device_clock_harness: scenario=<name> reports=<n> worst_us=<w> lead_worst_us=<l> young_worst_us=<y> ppm=<p> true_ppm=<t> worst_ppm_error=<e>
// worst_us: the line's time of the newest reported frame against that
// frame's true time, the worst after the first 5 s; lead_worst_us: the same
// for the frame 1.2 s ahead (how far a timed stream is converted ahead);
// young_worst_us: the newest frame again, from 0.75 s to 5 s;
// ppm: the drift the line gives at the end; true_ppm: the truth's over the
// last 10 s (the card's crystal, plus the slope of a wandering lag);
// worst_ppm_error: the drift's worst distance from the truth's after 15 s
// (one line at the end is one draw of that).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>

#include "device_clock.h"

namespace {

using speakerd::ClockLine;
using speakerd::DeviceClock;

constexpr unsigned kRate = 48000;
constexpr unsigned kPeriod = 1024;
constexpr double kSeconds = 60;
constexpr double kWarmupSeconds = 5;
// The drift is compared with the truth's over the last 10 s once the line spans them.
constexpr double kDriftFromSeconds = 15;
constexpr double kLeadSeconds = 1.2;
// A timed stream that came with the device is placed by the line of its
// first second or so.
constexpr double kYoungSeconds = 0.75;
// CLOCK_MONOTONIC counts from boot: the driver's stamps carry an uptime.
constexpr double kUptimeSeconds = 1000;

// A driver: the frames it reports played by wall time t (what the pointer
// says), and the time at which frame p truly reached the DAC.
struct Driver {
  double ppm;
  double (*reported_position)(double t, double rate);
  double (*true_time)(double p, double rate);
  // The time the report carries, for a report whose pointer was read at t.
  double (*stamp)(double t, std::mt19937_64& random);
  speakerd::ReportStamps stamps;
};

// snd-aloop under emulation: the pointer moves one 4 ms tick at a time, at
// the tick's handler, and the handler comes late by an amount that wanders
// between 0 and 1 ms over 40 s. The status read's stamp is the time of the
// read, so a report is late by the wandering lag plus up to a tick.
double Lag(double t) { return 0.5e-3 + 0.5e-3 * std::sin(2 * M_PI * t / 40); }
double TickedPosition(double t, double rate) {
  constexpr double kTick = 0.004;
  // The last tick handled by t: tick k runs at k * kTick + Lag.
  double k = std::floor(t / kTick);
  while (k > 0 && k * kTick + Lag(k * kTick) > t) --k;
  return k * kTick * rate;
}
double TickedTrueTime(double p, double rate) {
  const double nominal = p / rate;
  return nominal + Lag(nominal);
}

// A card that reports its DMA position between interrupts (HDA and the
// like): the position is exact at the read, whose stamp is late by a few
// microseconds, and now and then by a millisecond (the thread preempted).
double ExactPosition(double t, double rate) { return t * rate; }
double ExactTrueTime(double p, double rate) { return p / rate; }

double OnTime(double t, std::mt19937_64&) { return t; }
double PreemptedSometimes(double t, std::mt19937_64& random) {
  std::exponential_distribution<double> latency(1 / 20e-6);
  std::uniform_real_distribution<double> chance(0, 1);
  return t + latency(random) + (chance(random) < 0.01 ? 1e-3 : 0);
}

// An alsa-lib plugin (ioplug, under the file PCM) reads the time before it
// asks for the pointer: a reader preempted in between, three times in a
// hundred under load, gives a report early by up to 3 ms.
double EarlySometimes(double t, std::mt19937_64& random) {
  std::uniform_real_distribution<double> chance(0, 1);
  std::uniform_real_distribution<double> preempted(0.5e-3, 3e-3);
  return t + 2e-6 - (chance(random) < 0.03 ? preempted(random) : 0);
}

struct Result {
  int reports = 0;
  double worst_us = 0;
  double lead_worst_us = 0;
  double young_worst_us = 0;
  double ppm = 0;
  double true_ppm = 0;
  double worst_ppm_error = 0;
};

// `stray_at`: at that time, one report stamped 6 ms early, more than a tick
// (a pointer read late and stamped early: no kernel driver should, a plugin
// might).
Result Run(const Driver& driver, double stray_at = -1) {
  const double rate = kRate * (1 + driver.ppm * 1e-6);
  DeviceClock clock(kRate, kPeriod, driver.stamps);
  std::mt19937_64 random(17);
  // The playback thread wakes every 5-15 ms (its period, its timed waits).
  std::uniform_real_distribution<double> wake(0.005, 0.015);
  Result result;
  bool stray_sent = false;
  double last_position = -1;
  for (double t = 0.01; t < kSeconds; t += wake(random)) {
    const double position = std::floor(driver.reported_position(t, rate));
    if (position == last_position) continue;  // the clock takes only reports that moved
    last_position = position;
    double stamp = driver.stamp(t, random);
    if (stray_at >= 0 && !stray_sent && t >= stray_at) {
      stamp -= 6e-3;
      stray_sent = true;
    }
    clock.Observe(std::llround((kUptimeSeconds + stamp) * 1e9), static_cast<uint64_t>(position));
    ++result.reports;
    const ClockLine line = clock.Line();
    if (!line.valid) continue;
    const double error = line.TimeOf(position) / 1e9 - kUptimeSeconds - driver.true_time(position, rate);
    if (t >= kYoungSeconds && t < kWarmupSeconds) result.young_worst_us = std::fmax(result.young_worst_us, std::fabs(error) * 1e6);
    if (t < kWarmupSeconds) continue;
    const double ahead = position + kLeadSeconds * kRate;
    const double lead_error = line.TimeOf(ahead) / 1e9 - kUptimeSeconds - driver.true_time(ahead, rate);
    result.worst_us = std::fmax(result.worst_us, std::fabs(error) * 1e6);
    result.lead_worst_us = std::fmax(result.lead_worst_us, std::fabs(lead_error) * 1e6);
    result.ppm = line.Ppm(kRate);
    const double window_start = position - 10 * kRate;
    result.true_ppm = ((position - window_start) / (driver.true_time(position, rate) - driver.true_time(window_start, rate)) / kRate - 1) * 1e6;
    if (t >= kDriftFromSeconds) result.worst_ppm_error = std::fmax(result.worst_ppm_error, std::fabs(result.ppm - result.true_ppm));
  }
  return result;
}

void Print(const char* scenario, const Driver& driver, const Result& result) {
  std::printf("device_clock_harness: scenario=%s reports=%d worst_us=%.1f lead_worst_us=%.1f young_worst_us=%.1f ppm=%.2f true_ppm=%.2f worst_ppm_error=%.2f\n",
              scenario, result.reports, result.worst_us, result.lead_worst_us, result.young_worst_us, result.ppm, result.true_ppm,
              result.worst_ppm_error);
}

}  // namespace

int main() {
  using speakerd::ReportStamps;
  const Driver ticked_slow{-1996, TickedPosition, TickedTrueTime, OnTime, ReportStamps::kKernel};
  const Driver ticked_fast{200, TickedPosition, TickedTrueTime, OnTime, ReportStamps::kKernel};
  const Driver exact{500, ExactPosition, ExactTrueTime, PreemptedSometimes, ReportStamps::kKernel};
  const Driver plugin{-500, ExactPosition, ExactTrueTime, EarlySometimes, ReportStamps::kPlugin};
  Print("ticked-slow", ticked_slow, Run(ticked_slow));
  Print("ticked-fast", ticked_fast, Run(ticked_fast));
  Print("ticked-stray", ticked_fast, Run(ticked_fast, 20));
  Print("exact-preempted", exact, Run(exact));
  Print("plugin-early", plugin, Run(plugin));
  return 0;
}
