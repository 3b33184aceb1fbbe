#!/usr/bin/env bash
# Native memory and thread-safety checks of the playback engine, for CI
# (test/native/sanitizers.test.ts runs this) and for running by hand.
#
#   ring-stress-tsan    test/native/ring_stress.cc under ThreadSanitizer, several seeds
#   ring-stress-asan    the same under AddressSanitizer
#   engine-asan-ubsan   test/native/engine_harness.cc under AddressSanitizer,
#                       UndefinedBehaviorSanitizer and LeakSanitizer
#   engine-tsan         the same harness under ThreadSanitizer
#   engine-valgrind     the same harness, unsanitized, under valgrind memcheck
#                       (SKIP when valgrind is not installed)
#   converter-asan-ubsan  test/native/converter_harness.cc (every format, channel
#                       map and rate pair through the converter, and through a
#                       stream's input into a small ring) under
#                       AddressSanitizer and UndefinedBehaviorSanitizer
#
# Everything is built into build/native-check/ from native/src and the static
# alsa-lib and speexdsp in deps/ (built by `npm install`). Prints one line per check,
#   check-native: PASS|FAIL|SKIP <check> errors=<n> time=<s>s <details>
# where errors counts sanitizer reports plus failed expectations, then a
# total, and exits 1 if any check failed. A failing check's log is printed
# after its line.
#
# Environment: RING_SEEDS (default: 1 2 3 and one random seed, printed, so a
# failure can be replayed), HARNESS_CYCLES (default 200).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$root/build/native-check"
alsa="$root/deps/alsa-lib"
speexdsp="$root/deps/speexdsp"
jobs=$(nproc 2>/dev/null || echo 2)
harness_cycles=${HARNESS_CYCLES:-200}
random_seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
ring_seeds=${RING_SEEDS:-"1 2 3 $random_seed"}

passed=0
failed=0
skipped=0
started=$SECONDS

summary() { printf 'check-native: %s\n' "$*"; }

fail_setup() {
  summary "FAIL $1 errors=1 time=0s $2"
  summary "total: 0 passed, 1 failed, 0 skipped in $((SECONDS - started))s"
  exit 1
}

[ -f "$alsa/lib/libasound.a" ] && [ -f "$alsa/share/alsa/alsa.conf" ] ||
  fail_setup setup "no static alsa-lib in deps/alsa-lib: run npm install (or scripts/build-static-deps.sh) first"
[ -f "$speexdsp/lib/libspeexdsp.a" ] ||
  fail_setup setup "no static speexdsp in deps/speexdsp: run npm install (or scripts/build-static-deps.sh) first"
command -v g++ >/dev/null || fail_setup setup "g++ not found"

rm -rf "$out"
mkdir -p "$out/obj" "$out/logs" "$out/home"

# The sanitizer runtimes ship as separate Debian packages (libasan8,
# libubsan1, libtsan2 for g++ 12); say which one is missing rather than
# failing later with a link error.
probe_sanitizer() {
  local flag=$1 package=$2
  echo 'int main() { return 0; }' | g++ -x c++ - "-fsanitize=$flag" -o "$out/obj/probe" >"$out/logs/probe-$flag.log" 2>&1 ||
    fail_setup toolchain "g++ cannot link -fsanitize=$flag; install $package ($(tail -1 "$out/logs/probe-$flag.log"))"
}
probe_sanitizer address libasan8
probe_sanitizer undefined libubsan1
probe_sanitizer thread libtsan2

# ---- build -------------------------------------------------------------------

common_flags="-std=c++17 -g -O1 -Wall -Wextra -Wno-unused-parameter -I$root/native/src -I$alsa/include -I$speexdsp/include"
declare -A variant_flags=(
  [asan]="-fsanitize=address,undefined -fno-omit-frame-pointer"
  [tsan]="-fsanitize=thread"
  [plain]=""
)
engine_sources=(alsa_config_text alsa_log clock_sink fault_pcm ioplug_params mixer pcm_device playback_thread realtime)
link_libs="$alsa/lib/libasound.a $speexdsp/lib/libspeexdsp.a -lm -ldl -lpthread -lrt"

# One compile job per line: variant, source path, object path.
compile_jobs() {
  local variant source
  for variant in asan tsan plain; do
    for source in "${engine_sources[@]}"; do
      echo "$variant $root/native/src/$source.cc $out/obj/$variant-$source.o"
    done
    echo "$variant $root/test/native/engine_harness.cc $out/obj/$variant-engine_harness.o"
  done
  echo "tsan $root/test/native/ring_stress.cc $out/obj/tsan-ring_stress.o"
  echo "asan $root/test/native/ring_stress.cc $out/obj/asan-ring_stress.o"
  echo "asan $root/native/src/converter.cc $out/obj/asan-converter.o"
  echo "asan $root/native/src/stream_input.cc $out/obj/asan-stream_input.o"
  echo "asan $root/test/native/converter_harness.cc $out/obj/asan-converter_harness.o"
}

compile_one() {
  local variant=$1 source=$2 object=$3
  local log="$out/logs/compile-$(basename "$object" .o).log"
  # shellcheck disable=SC2086  # flag strings are word lists
  g++ $common_flags ${variant_flags[$variant]} -c "$source" -o "$object" >"$log" 2>&1 || {
    echo "compile failed: $source ($variant)"
    cat "$log"
    return 1
  }
}

link() {
  local variant=$1 binary=$2
  shift 2
  local objects=()
  for name in "$@"; do objects+=("$out/obj/$variant-$name.o"); done
  # shellcheck disable=SC2086
  g++ ${variant_flags[$variant]} "${objects[@]}" $link_libs -o "$out/$binary" >"$out/logs/link-$binary.log" 2>&1 || {
    echo "link failed: $binary"
    cat "$out/logs/link-$binary.log"
    return 1
  }
}

build_started=$SECONDS
build_log="$out/logs/build.log"
build() {
  export -f compile_one
  export out common_flags
  # Associative arrays cannot be exported: hand the flags over per variant.
  export VARIANT_ASAN="${variant_flags[asan]}" VARIANT_TSAN="${variant_flags[tsan]}"
  compile_jobs | xargs -P "$jobs" -L 1 bash -c '
    declare -A variant_flags=([asan]="$VARIANT_ASAN" [tsan]="$VARIANT_TSAN" [plain]="")
    compile_one "$@"' _ || return 1
  link asan engine_harness_asan engine_harness "${engine_sources[@]}" &&
    link tsan engine_harness_tsan engine_harness "${engine_sources[@]}" &&
    link plain engine_harness engine_harness "${engine_sources[@]}" &&
    link tsan ring_stress_tsan ring_stress &&
    link asan ring_stress_asan ring_stress &&
    link asan converter_harness_asan converter_harness converter stream_input
}
if build >"$build_log" 2>&1; then
  summary "PASS build errors=0 time=$((SECONDS - build_started))s 6 binaries in ${out#"$root/"}"
  passed=$((passed + 1))
else
  summary "FAIL build errors=1 time=$((SECONDS - build_started))s"
  sed 's/^/    /' "$build_log" | tail -80
  summary "total: 0 passed, 1 failed, 0 skipped in $((SECONDS - started))s"
  exit 1
fi

# ---- run ---------------------------------------------------------------------

export ALSA_CONFIG_DIR="$alsa/share/alsa"
# A private HOME, so that a developer's ~/.asoundrc cannot redefine the PCMs
# the harness uses.
export HOME="$out/home"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# Report every race, not just the first; the exit code says whether any was.
export TSAN_OPTIONS=halt_on_error=0:exitcode=66:second_deadlock_stack=1

sanitizer_report='^==[0-9]+==ERROR: (Address|Leak)Sanitizer|runtime error: |^WARNING: ThreadSanitizer: '
failed_expectation='^engine_harness: FAIL|^ring_stress: (MISMATCH|FAIL)|^converter_harness: FAIL'

# Sanitizer reports and failed expectations in a log.
count_errors() {
  local log=$1 reports failures
  reports=$(grep -cE "$sanitizer_report" "$log")
  failures=$(grep -cE "$failed_expectation" "$log")
  # valgrind counts its own errors, leaks included.
  local valgrind_errors
  valgrind_errors=$(sed -nE 's/^==[0-9]+== ERROR SUMMARY: ([0-9]+) errors.*/\1/p' "$log" | tail -1)
  echo $((reports + failures + ${valgrind_errors:-0}))
}

# What a reader of a failed check needs: the failed expectations and the
# first sanitizer report in full, or else the end of the log.
excerpt() {
  local log=$1 first
  grep -E "$failed_expectation" "$log" | head -20
  first=$(grep -nE "$sanitizer_report" "$log" | head -1 | cut -d: -f1)
  if [ -n "$first" ]; then
    sed -n "$((first > 1 ? first - 1 : 1)),$((first + 80))p" "$log"
  else
    tail -40 "$log"
  fi
}

# run_check NAME DETAILS TIMEOUT_S COMMAND...: runs one check and prints its line.
run_check() {
  local name=$1 details=$2 limit=$3
  shift 3
  local log notes="" t0=$SECONDS status
  log="$out/logs/$name-$(echo "$details" | tr -c 'A-Za-z0-9=\n' '_').log"
  timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
  status=$?
  # Newer kernels randomise mmap more than ThreadSanitizer's fixed layout
  # allows; it then refuses to start. Without ASLR it runs.
  if grep -q 'unexpected memory mapping' "$log" && command -v setarch >/dev/null; then
    notes+=" (ASLR off)"
    timeout --kill-after=10 "$limit" setarch "$(uname -m)" -R "$@" >"$log" 2>&1
    status=$?
  fi
  local elapsed=$((SECONDS - t0))
  [ "$status" = 124 ] && notes+=" (timed out after ${limit}s)"
  # The program's own result line (seed, frames, checks) says the most.
  local result errors
  result=$(grep -E '^(ring_stress|engine_harness): (seed|cycles)=|^converter_harness: cases=' "$log" | tail -1 | cut -d' ' -f2-)
  details="${result:-$details}$notes"
  errors=$(count_errors "$log")
  if [ "$status" = 0 ] && [ "$errors" = 0 ]; then
    summary "PASS $name errors=0 time=${elapsed}s $details"
    passed=$((passed + 1))
  else
    [ "$errors" = 0 ] && errors=1  # a crash or a timeout with nothing recognisable in the log
    summary "FAIL $name errors=$errors time=${elapsed}s exit=$status $details"
    echo "    --- from ${log#"$root/"}:"
    excerpt "$log" | sed 's/^/    /'
    failed=$((failed + 1))
  fi
}

for seed in $ring_seeds; do
  run_check ring-stress-tsan "seed=$seed" 60 "$out/ring_stress_tsan" "$seed"
done
for seed in $(echo "$ring_seeds" | awk '{ print $1, $NF }'); do
  run_check ring-stress-asan "seed=$seed" 60 "$out/ring_stress_asan" "$seed"
done
run_check engine-asan-ubsan "cycles=$harness_cycles" 90 "$out/engine_harness_asan" "$harness_cycles"
run_check engine-tsan "cycles=$harness_cycles" 90 "$out/engine_harness_tsan" "$harness_cycles"
run_check converter-asan-ubsan "seed=$random_seed" 90 "$out/converter_harness_asan" "$random_seed"
if command -v valgrind >/dev/null; then
  run_check engine-valgrind "cycles=$harness_cycles" 90 \
    valgrind --error-exitcode=1 --leak-check=full "$out/engine_harness" "$harness_cycles"
else
  summary "SKIP engine-valgrind errors=0 time=0s valgrind is not installed"
  skipped=$((skipped + 1))
fi

summary "total: $passed passed, $failed failed, $skipped skipped in $((SECONDS - started))s"
[ "$failed" = 0 ]
