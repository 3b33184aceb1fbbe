#!/usr/bin/env bash
# Native memory and thread-safety checks of the playback engine, for CI
# (test/native/sanitizers.test.ts runs this) and for running by hand.
#
#   ring-stress-tsan    test/native/ring_stress.cc under ThreadSanitizer, several seeds
#   ring-stress-asan    the same under AddressSanitizer
#   decode-slots-tsan   test/native/decode_slots_stress.cc under ThreadSanitizer:
#                       how many decode threads decode at once (1 and 3 slots)
#   engine-asan-ubsan   test/native/engine_harness.cc under AddressSanitizer,
#                       UndefinedBehaviorSanitizer and LeakSanitizer
#   engine-tsan         the same harness under ThreadSanitizer
#   engine-valgrind     the same harness, unsanitized, under valgrind memcheck
#                       (SKIP when valgrind is not installed)
#   converter-asan-ubsan  test/native/converter_harness.cc (every format, channel
#                       map and rate pair through the converter, and through a
#                       stream's input into a small ring) under
#                       AddressSanitizer and UndefinedBehaviorSanitizer
#   decoder-fuzz-asan-ubsan  test/native/decoder_fuzz.cc, once per codec (flac,
#                       opus, vorbis, mp3, webm): corrupted files through the real
#                       decoders and codec libraries under AddressSanitizer,
#                       UndefinedBehaviorSanitizer and LeakSanitizer; a file
#                       that takes more than 1 s to decode fails
#   decoder-fuzz-valgrind  the same, fewer files, unsanitized, under valgrind
#                       memcheck (which also sees the uninstrumented codec
#                       libraries read uninitialised memory)
#
# The fuzz's seed files are made at run time by the reference encoders (flac,
# opusenc, oggenc, lame) from short tones, and WebM from the Ogg Opus ones by
# test/webm_mux.cc. The fuzz runs are single-threaded and run two at a time.
#
# Everything is built into build/native-check/ from native/src and the static
# alsa-lib, speexdsp and codec libraries in deps/ (built by `npm install`).
# Prints one line per check,
#   check-native: PASS|FAIL|SKIP <check> errors=<n> time=<s>s <details>
# where errors counts sanitizer reports plus failed expectations, then a
# total, and exits 1 if any check failed. A failing check's log is printed
# after its line.
#
# Environment: RING_SEEDS (default: 1 2 3 and one random seed, printed, so a
# failure can be replayed), HARNESS_CYCLES (default 200), FUZZ_SEED (default:
# the random seed), FUZZ_FILES (per codec, default 10000), FUZZ_VALGRIND_FILES
# (per codec, default 200).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$root/build/native-check"
alsa="$root/deps/alsa-lib"
speexdsp="$root/deps/speexdsp"
deps="$root/deps"
jobs=$(nproc 2>/dev/null || echo 2)
harness_cycles=${HARNESS_CYCLES:-200}
random_seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
ring_seeds=${RING_SEEDS:-"1 2 3 $random_seed"}
fuzz_seed=${FUZZ_SEED:-$random_seed}
fuzz_files=${FUZZ_FILES:-10000}
fuzz_valgrind_files=${FUZZ_VALGRIND_FILES:-200}

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
# The codec libraries, in link order (as binding.gyp lists them).
codec_libs=(flac/lib/libFLAC.a opusfile/lib/libopusfile.a opus/lib/libopus.a libvorbis/lib/libvorbisfile.a
  libvorbis/lib/libvorbis.a libogg/lib/libogg.a mpg123/lib/libmpg123.a libwebm/lib/libwebm.a)
for lib in "${codec_libs[@]}"; do
  [ -f "$deps/$lib" ] ||
    fail_setup setup "no static ${lib%%/*} in deps/${lib%%/*}: run npm install (or scripts/build-static-deps.sh) first"
done
command -v g++ >/dev/null || fail_setup setup "g++ not found"
for encoder in flac opusenc oggenc lame; do
  command -v "$encoder" >/dev/null ||
    fail_setup setup "$encoder not found: the decoder fuzz makes its seed files with it (scripts/setup.sh installs it)"
done

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

codec_includes="-I$deps/flac/include -I$deps/libogg/include -I$deps/opus/include/opus -I$deps/opusfile/include/opus"
codec_includes+=" -I$deps/libvorbis/include -I$deps/mpg123/include -I$deps/libwebm/include"
common_flags="-std=c++17 -g -O1 -Wall -Wextra -Wno-unused-parameter -I$root/native/src -I$alsa/include -I$speexdsp/include $codec_includes"
declare -A variant_flags=(
  [asan]="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
  [tsan]="-fsanitize=thread"
  [plain]=""
)
engine_sources=(alsa_config_text alsa_log clock_lock clock_sink device_clock fault_pcm ioplug_params mixer pcm_device playback_thread realtime stream_level system_clocks)
# audio_decoder.cc and every codec's decoder: CreateDecoder names them all.
decoder_sources=()
for source in "$root"/native/src/*_decoder.cc; do decoder_sources+=("$(basename "$source" .cc)"); done
# Archives only lend the objects a binary needs: every binary can list them all.
link_libs="${codec_libs[*]/#/$deps/} $alsa/lib/libasound.a $speexdsp/lib/libspeexdsp.a -lm -ldl -lpthread -lrt"

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
  echo "tsan $root/native/src/decode_slots.cc $out/obj/tsan-decode_slots.o"
  echo "tsan $root/test/native/decode_slots_stress.cc $out/obj/tsan-decode_slots_stress.o"
  echo "asan $root/native/src/converter.cc $out/obj/asan-converter.o"
  echo "asan $root/native/src/drift_interpolator.cc $out/obj/asan-drift_interpolator.o"
  echo "asan $root/native/src/stream_input.cc $out/obj/asan-stream_input.o"
  echo "asan $root/test/native/converter_harness.cc $out/obj/asan-converter_harness.o"
  for variant in asan plain; do
    for source in "${decoder_sources[@]}"; do
      echo "$variant $root/native/src/$source.cc $out/obj/$variant-$source.o"
    done
    echo "$variant $root/test/native/decoder_fuzz.cc $out/obj/$variant-decoder_fuzz.o"
  done
  echo "plain $root/test/webm_mux.cc $out/obj/plain-webm_mux.o"
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
    link tsan decode_slots_stress_tsan decode_slots_stress decode_slots &&
    link asan converter_harness_asan converter_harness converter drift_interpolator stream_input clock_lock device_clock system_clocks &&
    link asan decoder_fuzz_asan decoder_fuzz "${decoder_sources[@]}" &&
    link plain decoder_fuzz decoder_fuzz "${decoder_sources[@]}" &&
    link plain webm_mux webm_mux
}
if build >"$build_log" 2>&1; then
  summary "PASS build errors=0 time=$((SECONDS - build_started))s 10 binaries in ${out#"$root/"}"
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
failed_expectation='^engine_harness: FAIL|^ring_stress: (MISMATCH|FAIL)|^decode_slots_stress: FAIL|^converter_harness: FAIL|^decoder_fuzz: FAIL'

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
  result=$(grep -E '^(ring_stress|engine_harness): (seed|cycles)=|^converter_harness: cases=|^decoder_fuzz: codec=' "$log" |
    tail -1 | cut -d' ' -f2-)
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
for slots in 1 3; do
  run_check decode-slots-tsan "slots=$slots" 60 "$out/decode_slots_stress_tsan" "$slots" 8 2000
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

# ---- decoder fuzz --------------------------------------------------------------

# Short seeds keep 10,000 decodes per codec cheap: half a second of stereo
# (MPEG-2 mono for MP3's other layout), a quarter of 5.1 (24-bit for FLAC).
# Opus with short pages, as streaming encoders write them: with opusenc's
# default of one page per second, nearly every damaged file lost its only
# audio page and the packet decoder saw nothing. WebM both ways it comes: a
# file of known sizes, and live (unknown sizes) as MediaRecorder writes it.
# Fixed Ogg serial numbers make every seed the same on each run, so that a
# failure's FUZZ_SEED and file index replay it anywhere.
seeds="$out/fuzz-seeds"
make_fuzz_seeds() {
  mkdir -p "$seeds" &&
    "$out/decoder_fuzz" tone "$seeds/stereo.wav" 48000 2 16 0.5 &&
    "$out/decoder_fuzz" tone "$seeds/surround.wav" 48000 6 16 0.25 &&
    "$out/decoder_fuzz" tone "$seeds/surround-24bit.wav" 48000 6 24 0.25 &&
    "$out/decoder_fuzz" tone "$seeds/mono-24k.wav" 24000 1 16 0.5 &&
    flac --silent --force --no-padding -o "$seeds/stereo.flac" "$seeds/stereo.wav" &&
    flac --silent --force --no-padding --channel-map=none -o "$seeds/surround.flac" "$seeds/surround-24bit.wav" &&
    opusenc --quiet --serial 1 --max-delay 40 "$seeds/stereo.wav" "$seeds/stereo.opus" &&
    opusenc --quiet --serial 1 --max-delay 100 "$seeds/surround.wav" "$seeds/surround.opus" &&
    oggenc --quiet --serial 1 -o "$seeds/stereo.ogg" "$seeds/stereo.wav" &&
    oggenc --quiet --serial 1 -o "$seeds/surround.ogg" "$seeds/surround.wav" &&
    lame --quiet "$seeds/stereo.wav" "$seeds/stereo.mp3" &&
    lame --quiet "$seeds/mono-24k.wav" "$seeds/mono.mp3" &&
    "$out/webm_mux" "$seeds/stereo.opus" "$seeds/stereo.webm" &&
    "$out/webm_mux" "$seeds/surround.opus" "$seeds/surround-live.webm" live
}
seeds_started=$SECONDS
if make_fuzz_seeds >"$out/logs/fuzz-seeds.log" 2>&1; then
  summary "PASS fuzz-seeds errors=0 time=$((SECONDS - seeds_started))s $(find "$seeds" -type f ! -name '*.wav' | wc -l) files in ${seeds#"$root/"}"
  passed=$((passed + 1))
else
  summary "FAIL fuzz-seeds errors=1 time=$((SECONDS - seeds_started))s"
  sed 's/^/    /' "$out/logs/fuzz-seeds.log" | tail -20
  failed=$((failed + 1))
fi
declare -A fuzz_seed_names=(
  [flac]="stereo.flac surround.flac"
  [opus]="stereo.opus surround.opus"
  [vorbis]="stereo.ogg surround.ogg"
  [mp3]="stereo.mp3 mono.mp3"
  [webm]="stereo.webm surround-live.webm"
)
fuzz_codecs=(flac opus vorbis mp3 webm)
# The seed files' paths for codec $1, in the array seed_files.
set_seed_files() {
  local names
  read -r -a names <<<"${fuzz_seed_names[$1]}"
  seed_files=("${names[@]/#/$seeds/}")
}

# Each fuzz run is one thread: they run $jobs at a time, in subshells whose
# lines are printed in the order queued and counted from there.
queued_checks=()
queue_check() { queued_checks+=("$(printf '%q ' "$@")"); }
run_queued_checks() {
  local i running=0 result
  for i in "${!queued_checks[@]}"; do
    eval "run_check ${queued_checks[$i]}" >"$out/logs/queued-$i.out" 2>&1 &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
      wait -n
      running=$((running - 1))
    fi
  done
  wait
  for i in "${!queued_checks[@]}"; do
    result="$out/logs/queued-$i.out"
    cat "$result"
    passed=$((passed + $(grep -c '^check-native: PASS' "$result")))
    failed=$((failed + $(grep -c '^check-native: FAIL' "$result")))
  done
  queued_checks=()
}

for codec in "${fuzz_codecs[@]}"; do
  set_seed_files "$codec"
  queue_check decoder-fuzz-asan-ubsan "codec=$codec" 300 \
    "$out/decoder_fuzz_asan" "$codec" "$fuzz_files" "$fuzz_seed" "${seed_files[@]}"
done
if command -v valgrind >/dev/null; then
  # valgrind runs the code 30 to 50 times slower: the per-file limit grows
  # with it (the 1 s one is the ASan runs').
  for codec in "${fuzz_codecs[@]}"; do
    set_seed_files "$codec"
    queue_check decoder-fuzz-valgrind "codec=$codec" 300 \
      valgrind --error-exitcode=1 --leak-check=full \
      "$out/decoder_fuzz" --limit-ms=60000 "$codec" "$fuzz_valgrind_files" "$fuzz_seed" "${seed_files[@]}"
  done
else
  summary "SKIP decoder-fuzz-valgrind errors=0 time=0s valgrind is not installed"
  skipped=$((skipped + 1))
fi
run_queued_checks

summary "total: $passed passed, $failed failed, $skipped skipped in $((SECONDS - started))s"
[ "$failed" = 0 ]
