#!/usr/bin/env bash
# Measures the syscalls speakerd makes and keeps them in k8s/seccomp/syscalls.txt,
# the one source of truth for the container's seccomp profile.
#
#   scripts/seccomp-measure.sh              measure, rewrite syscalls.txt, then --generate
#   scripts/seccomp-measure.sh --measure    measure and rewrite syscalls.txt only
#   scripts/seccomp-measure.sh --generate   write k8s/seccomp/speakerd.json and
#                                           speakerd-seccompprofile.yaml from syscalls.txt
#   scripts/seccomp-measure.sh --check      fail when the generated files are stale
#
# Measuring needs strace (apt-get install -y strace), curl and a built tree
# (npm ci && npx tsc -p tsconfig.json). It runs, each under `strace -f -qq -o`:
#   1. serve, AUDIO_MODE=device into a file PCM: POST 1 s of audio, GET every
#      read endpoint, SIGTERM;
#   2. serve, AUDIO_MODE=headless (the timerfd clock sink): POST 1 s, SIGTERM;
#   3. serve, AUDIO_MODE=auto with an empty AUDIO_SND_DIR (fs.watch: inotify),
#      GET endpoints, SIGTERM;
#   4. doctor and doctor --json;
#   5. tone through the file PCM and the clock sink (the playback thread alone);
#   6. healthcheck (the image's HEALTHCHECK) against a server and against nothing;
#   7. serve with OTLP export (traces and metrics) to a local receiver.
# serve listens on HOST=0.0.0.0, the default the manifest keeps: Fastify then
# lists the interfaces (a netlink socket) to log its addresses.
# Each step runs once per Node binary in SECCOMP_NODES (default: node), e.g.
#   SECCOMP_NODES="node /opt/node24/bin/node" scripts/seccomp-measure.sh
# An arm64 Node (scripts/node-dist.sh "" arm64) measures the aarch64 calls on
# this x86_64 machine: it runs the out/arm64 tree (scripts/arm64.sh build or
# from-image) under qemu-user, whose own strace logs the calls (traced()).
# The profile is one list for both architectures: libseccomp resolves each
# name on each, and a name one of them lacks (open on aarch64) is skipped there.
# The union of the names in the traces, plus the documented ADDITIONS below
# (calls these runs may not reach: another Node major, aarch64 names, rare
# paths), becomes syscalls.txt. The measurement does not run in CI; the test
# test/k8s/seccomp-profile.test.ts checks that the generated files match.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/k8s/seccomp/syscalls.txt"
GENERATOR="$ROOT/scripts/seccomp-profile.cjs"

# Syscalls allowed although the measured runs may not make them. Keep each
# group's comment: it is copied into syscalls.txt.
ADDITIONS='
# Process exit, signal return and restarted sleeps: made on paths strace rarely
# sees (a crash, an interrupted nanosleep), and fatal to refuse.
exit
exit_group
rt_sigreturn
restart_syscall
rt_sigaction
rt_sigprocmask
sigaltstack
tgkill
# The steps of the container runtime right before exec run under the
# filter: runc checks that /proc/self/fd is on procfs (fstatfs) and closes
# inherited descriptors.
fstatfs
statfs
close_range
# Threads: glibc 2.34+ creates threads with clone3 and registers rseq; Node 24
# and newer glibc use more futex variants. clone3 must be allowed (not refused
# with EPERM), or pthread_create fails instead of falling back to clone.
clone
clone3
futex
futex_waitv
set_robust_list
get_robust_list
rseq
set_tid_address
gettid
sched_yield
sched_getaffinity
membarrier
# The playback thread: ALSA ioctls and mmap on the PCM, poll/ppoll on it and on
# its eventfd wake-up, the timerfd of the headless clock sink.
ioctl
mmap
munmap
mremap
mprotect
madvise
poll
ppoll
eventfd2
timerfd_create
timerfd_settime
timerfd_gettime
read
write
pread64
pwrite64
# SCHED_FIFO for the playback thread (pthread_setschedparam and its queries;
# newer glibc may use sched_setattr/sched_getattr).
sched_setscheduler
sched_setparam
sched_getscheduler
sched_getparam
sched_setattr
sched_getattr
sched_get_priority_max
sched_get_priority_min
getpriority
setpriority
# Names arm64 (and other generic-ABI ports) use where x86_64 has an older call:
# no open/stat/poll/select/epoll_wait/dup2/pipe/access/readlink/mkdir/unlink/
# rename/getdents/inotify_init/eventfd there.
openat
newfstatat
fstat
statx
pselect6
epoll_create1
epoll_ctl
epoll_pwait
epoll_pwait2
dup3
pipe2
faccessat
faccessat2
readlinkat
mkdirat
unlinkat
renameat
renameat2
getdents64
inotify_init1
inotify_add_watch
inotify_rm_watch
# Time (usually the vDSO, but a real syscall where the vDSO is unavailable).
clock_gettime
clock_getres
clock_nanosleep
gettimeofday
nanosleep
# Sockets for the HTTP server (accept4 on every port; shutdown on close).
accept4
shutdown
'

# Syscalls the runs make but the profile refuses on purpose, with EPERM. Each
# has a fallback in the caller. Same quoting rule as ADDITIONS.
REFUSED='
# io_uring: Node 24 libuv probes it at start and falls back to epoll and its
# thread pool when refused. It is a large kernel attack surface, refused by
# Docker default profile as well.
io_uring_setup
io_uring_enter
io_uring_register
'

generate() {
  node "$GENERATOR" generate
}

# Prints the syscall names in an `strace -f -o` trace, one a line.
trace_names() {
  # "1234  name(args" or "1234  <... name resumed>"; skip signals and exits.
  sed -nE 's/^[0-9]+ +([a-z0-9_]+)\(.*/\1/p; s/^[0-9]+ +<\.\.\. ([a-z0-9_]+) resumed>.*/\1/p' "$@"
}

# Sets TRACER to the command prefix that traces a command's syscalls into
# $1: strace for a native Node; for an arm64 Node on another machine,
# qemu-user's own strace (QEMU_STRACE), which logs the aarch64 calls the
# program makes before qemu maps them onto the host's (strace would see only
# the host's). qemu writes one log a process ($1.<pid>).
tracer() {
  if [ "$NODE_ARCH" = arm64 ] && [ "$(uname -m)" != aarch64 ]; then
    TRACER=(env QEMU_STRACE=1 "QEMU_LOG_FILENAME=$1.%d")
  else
    TRACER=(strace -f -qq -o "$1")
  fi
}

# Runs a command traced into $1.
traced() {
  tracer "$1"
  shift
  "${TRACER[@]}" "$@"
}

wait_port() {
  local port=$1
  # Up to 60 s: an arm64 Node under qemu-user and its strace starts slowly.
  for _ in $(seq 1 600); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/livez" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "speakerd did not listen on $port" >&2
  return 1
}

# serve under strace: $1 trace file, $2 port, $3 function that exercises it; the
# remaining arguments are VAR=value for the environment.
traced_serve() {
  local trace=$1 port=$2 exercise=$3
  shift 3
  tracer "$trace"
  env "$@" PORT="$port" HOST=0.0.0.0 LOG_LEVEL=warn \
    "${TRACER[@]}" "$NODE" --max-semi-space-size=1 dist/cli.js serve &
  local pid=$!
  wait_port "$port"
  "$exercise" "$port"
  # The traced node is strace's child; its name is not always "node" (Node 24
  # names its main thread MainThread).
  kill -TERM "$(pgrep -P "$pid" || echo "$pid")"
  wait "$pid" || true
}

get_all() {
  local port=$1 path
  for path in /healthz /livez /readyz /v1/device /v1/streams /metrics; do
    curl -sS -o /dev/null "http://127.0.0.1:$port$path" || true
  done
}

post_second() {
  local port=$1
  curl -fsS -o /dev/null -H 'content-type: audio/pcm;rate=48000;channels=2;format=s16le' \
    --data-binary @"$WORK/second.raw" "http://127.0.0.1:$port/v1/streams"
  sleep 1.5
  get_all "$port"
}

healthchecks() {
  local port=$1
  PORT="$port" traced "$WORK/$TAG-healthcheck.trace" "$NODE" dist/cli.js healthcheck >/dev/null
  PORT=1 traced "$WORK/$TAG-healthcheck-refused.trace" "$NODE" dist/cli.js healthcheck 2>/dev/null && return 1
  get_all "$port"
}

measure() {
  command -v strace >/dev/null || { echo "strace is required: apt-get install -y strace" >&2; exit 1; }
  command -v curl >/dev/null || { echo "curl is required" >&2; exit 1; }
  cd "$ROOT"
  [ -f dist/cli.js ] || npx tsc -p tsconfig.json
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
  mkdir "$WORK/snd"
  # 1 s of a 440 Hz tone, 48 kHz stereo s16le.
  node -e '
    const b = Buffer.alloc(48000 * 4);
    for (let i = 0; i < 48000; i++) { const v = Math.round(8000 * Math.sin(2 * Math.PI * 440 * i / 48000)); b.writeInt16LE(v, 4 * i); b.writeInt16LE(v, 4 * i + 2); }
    require("fs").writeFileSync(process.argv[1], b);' "$WORK/second.raw"
  local file_pcm="pcm.out { type file slave.pcm null file \"$WORK/out.raw\" format raw }"

  # An OTLP/HTTP receiver that accepts anything, for step 7.
  node -e 'require("http").createServer((q, s) => { q.resume(); q.on("end", () => s.end()); }).listen(14318, "127.0.0.1")' &
  local receiver=$!
  local versions=()
  for NODE in ${SECCOMP_NODES:-node}; do
    NODE=$(realpath "$(command -v "$NODE")")
    NODE_ARCH=$("$NODE" -p process.arch)
    TAG="$("$NODE" --version)-$NODE_ARCH"
    versions+=("$("$NODE" --version) $NODE_ARCH")
    # An arm64 Node runs the arm64 tree (scripts/arm64.sh build or
    # from-image): its addon, the same dist/.
    if [ "$NODE_ARCH" = arm64 ] && [ "$(uname -m)" != aarch64 ]; then cd "$ROOT/out/arm64"; else cd "$ROOT"; fi
    echo "measuring with $NODE ($("$NODE" --version))" >&2
    echo "1/7 serve, device mode, file PCM" >&2
    traced_serve "$WORK/$TAG-device.trace" 18080 post_second \
      AUDIO_MODE=device AUDIO_DEVICE=out AUDIO_UNDERRUN=wait AUDIO_ALSA_CONFIG="$file_pcm"
    echo "2/7 serve, headless mode" >&2
    traced_serve "$WORK/$TAG-headless.trace" 18081 post_second AUDIO_MODE=headless
    echo "3/7 serve, auto mode, empty AUDIO_SND_DIR" >&2
    traced_serve "$WORK/$TAG-auto.trace" 18082 get_all AUDIO_MODE=auto AUDIO_SND_DIR="$WORK/snd"
    echo "4/7 doctor" >&2
    AUDIO_SND_DIR="$WORK/snd" traced "$WORK/$TAG-doctor.trace" "$NODE" dist/cli.js doctor >/dev/null || true
    AUDIO_SND_DIR="$WORK/snd" traced "$WORK/$TAG-doctor-json.trace" "$NODE" dist/cli.js doctor --json >/dev/null || true
    AUDIO_MODE=device AUDIO_DEVICE=out AUDIO_ALSA_CONFIG="$file_pcm" \
      traced "$WORK/$TAG-doctor-device.trace" "$NODE" dist/cli.js doctor >/dev/null || true
    echo "5/7 tone" >&2
    traced "$WORK/$TAG-tone-file.trace" "$NODE" dist/cli.js tone --pcm out --alsa-config "$file_pcm" \
      --underrun wait --seconds 1 >/dev/null
    traced "$WORK/$TAG-tone-clock.trace" "$NODE" dist/cli.js tone --seconds 1 >/dev/null
    echo "6/7 healthcheck" >&2
    traced_serve "$WORK/$TAG-serve-healthcheck.trace" 18083 healthchecks AUDIO_MODE=headless
    echo "7/7 OTLP export" >&2
    traced_serve "$WORK/$TAG-otlp.trace" 18084 post_second AUDIO_MODE=headless \
      OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:14318 OTEL_METRIC_EXPORT_INTERVAL=200 OTEL_BSP_SCHEDULE_DELAY=100
  done

  kill "$receiver"
  local measured additions refused
  refused="$(printf '%s\n' "$REFUSED" | sed -e 's/#.*//' -e '/^ *$/d' | sort -u)"
  measured="$(trace_names "$WORK"/*.trace* | sort -u | comm -23 - <(printf '%s\n' "$refused"))"
  additions="$(printf '%s\n' "$ADDITIONS" | sed -e 's/#.*//' -e '/^ *$/d' | sort -u)"
  {
    echo "# The syscalls speakerd's container may make: its seccomp allow-list."
    echo "# Generated by scripts/seccomp-measure.sh ($(IFS=,; echo "${versions[*]}" | sed 's/,/, /g'));"
    echo "# a new measurement rewrites it: add names to ADDITIONS in that script, then run"
    echo "# scripts/seccomp-measure.sh --generate. Anything not listed fails with EPERM."
    printf '%s\n' "$ADDITIONS"
    echo "# Measured: made by node and alsa-lib under strace during playback (device"
    echo "# and headless), the HTTP endpoints, shutdown on SIGTERM, doctor, tone and"
    echo "# healthcheck, and not already listed above."
    comm -23 <(printf '%s\n' "$measured") <(printf '%s\n' "$additions")
    echo
    echo "# Refused on purpose although the runs made them (REFUSED in the script):"
    printf '%s\n' "$REFUSED" | sed -e '/^$/d' -e 's/^\([a-z]\)/# \1/'
  } >"$OUT"
  echo "measured $(printf '%s\n' "$measured" | wc -l) syscalls; $(node -e 'console.log(require(process.argv[1]).parseSyscalls(require("fs").readFileSync(process.argv[2], "utf8")).length)' "$GENERATOR" "$OUT") in $OUT" >&2
  # What the runs made that the additions already cover is not news; what they
  # did not make from the additions is listed for review.
  echo "additions not seen in this run: $(comm -13 <(printf '%s\n' "$measured") <(printf '%s\n' "$additions") | tr '\n' ' ')" >&2
}

case "${1:-}" in
  "") measure; generate ;;
  --measure) measure ;;
  --generate) generate ;;
  --check) node "$GENERATOR" check ;;
  *) echo "usage: $0 [--measure|--generate|--check]" >&2; exit 2 ;;
esac
