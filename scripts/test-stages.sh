#!/usr/bin/env bash
# The test suite in stages, each its own tap run with its own time limit.
# Some files are slow for reasons of their own, and each stage of them runs
# alone, once:
#   fast        every test file except those below, two at a time
#   sanitizers  test/native/sanitizers.test.ts: builds the engine with ASan,
#               UBSan and TSan and runs it under them and valgrind
#   docker      test/k8s/docker.test.ts: builds the image (the first build
#               on a machine compiles alsa-lib in it) and runs it; then
#               test/k8s/docker-multiarch.test.ts: the amd64 and arm64 images
#               as one manifest list, and the arm64 one run under qemu-user
#   kernel      test/kernel/kernel.test.ts: boots Debian's kernel under QEMU
#               (TCG) and runs the guest tests on its sound drivers
#   arm64       test/arm64/arm64.test.ts: scripts/arm64.sh's test set on
#               arm64 Node under qemu-user, against the arm64 image's addon;
#               test/arm64/seccomp-kernel.test.ts: the image under runc and
#               the seccomp profile on Debian's arm64 kernel (qemu-system-aarch64)
# The limits stop a stage that hangs. `timeout` signals its whole process
# group, so nothing a stage started (check-native.sh, qemu) outlives it,
# whereas tap's per-file timeout kills only the test's own process and left
# check-native.sh running on. So for the three slow stages tap's timeout is
# off and the stage's limit is theirs.
#
# Usage: scripts/test-stages.sh [STAGE...] [-- TAP_ARGS...]
#   No stage: all five, in the order above (npm test). Every stage runs even
#   when an earlier one failed; the exit code is 1 if any failed. Each tap
#   run prints its own "# { total: N, pass: N }" line.
# Expects the TypeScript built (npm test builds it first).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

stages=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  stages+=("$1")
  shift
done
[ "${1:-}" = -- ] && shift
tap_args=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(fast sanitizers docker kernel arm64)

# --exclude replaces tap's default exclusion, so that is restated. The files
# that count xruns and underruns on the paced clock sink, ask for
# SCHED_FIFO, or time timed streams' first frames against the sink's
# timeline run alone: a second test file competing for the two cores
# starved a playback thread into xruns (seen in telemetry.test.ts), and
# starved sync.test.ts's service until 3 of 50 streams' bodies came after
# their time, 300 ms after they were posted (CI), and sync-lock.test.ts's
# four real-time instances until three of them played 5-11 ms off their
# time for a while after 5 s (CI, 2026-12-04; alone with two yes loops
# they held 75 and 204 us).
fast=(--jobs=2 --exclude='**/@(fixture*(s)|dist)/**' --exclude='test/kernel/**'
  --exclude=test/native/sanitizers.test.ts --exclude='test/k8s/docker*.test.ts' --exclude='test/arm64/**'
  --serial=test/service/telemetry.test.ts --serial=test/service/streams.test.ts
  --serial=test/native/clock-sink.test.ts --serial=test/native/underrun.test.ts
  --serial=test/native/realtime.test.ts --serial=test/service/sync.test.ts
  --serial=test/service/broadcast.test.ts --serial=test/service/sync-lock.test.ts)

failed=()
for stage in "${stages[@]}"; do
  case $stage in
    fast) limit=900 args=("${fast[@]}") ;;
    sanitizers) limit=900 args=(--timeout=0 test/native/sanitizers.test.ts) ;;
    docker) limit=1800 args=(--timeout=0 --jobs=1 test/k8s/docker.test.ts test/k8s/docker-multiarch.test.ts) ;;
    kernel) limit=1200 args=(--timeout=0 test/kernel/kernel.test.ts) ;;
    arm64) limit=1500 args=(--timeout=0 --jobs=1 test/arm64/arm64.test.ts test/arm64/seccomp-kernel.test.ts) ;;
    *)
      echo "test-stages: unknown stage $stage (fast, sanitizers, docker, kernel, arm64)" >&2
      exit 2
      ;;
  esac
  started=$SECONDS
  echo "test-stages: $stage: tap ${args[*]} ${tap_args[*]} (limit ${limit} s)"
  timeout --kill-after=30 "$limit" npx tap "${args[@]}" "${tap_args[@]}"
  code=$?
  [ "$code" = 124 ] && echo "test-stages: $stage: stopped after its ${limit} s limit"
  echo "test-stages: $stage: exit $code in $((SECONDS - started)) s"
  [ "$code" = 0 ] || failed+=("$stage")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "test-stages: failed: ${failed[*]}"
  exit 1
fi
