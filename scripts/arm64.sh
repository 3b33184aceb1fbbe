#!/usr/bin/env bash
# speakerd for arm64, built and tested on this x86_64 machine (issue 18):
# the static libraries and the addon cross-compiled with Debian's
# aarch64-linux-gnu compilers, from the same pinned sources as on x86_64,
# and tests run by the container image's Node for arm64 under qemu-user.
#
#   scripts/arm64.sh setup         qemu-user with binfmt_misc, arm64 glibc and
#                                  libstdc++ (for Node itself)
#   scripts/arm64.sh build         out/arm64/: the tree, its deps/ and the addon,
#                                  cross-compiled here (installs the cross compilers)
#   scripts/arm64.sh from-image IMAGE
#                                  out/arm64/: the tree, with the addon and
#                                  alsa-lib's configuration the arm64 IMAGE ships
#                                  (DOCKER_HOST selects the engine)
#   scripts/arm64.sh test [--ci | FILE...]
#                                  tap on arm64 Node in out/arm64: ARM64_TESTS,
#                                  or CI's smaller set, or the files named
#
# out/arm64 (git-ignored) is a tree of its own, so that the x86_64 build in
# build/ and deps/ stays as it is: the sources and dist/ are copied in (dist/
# is plain JavaScript, built here by `npm run build`), node_modules is this
# checkout's (no package in it is native), and deps/ and build/ are arm64's.
# CI tests the addon the image ships (from-image): the image's build already
# cross-compiled it, and a second build of the same would cost 4-5 minutes.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$root/out/arm64"
host=aarch64-linux-gnu
jobs=$(nproc 2>/dev/null || echo 2)

log() { printf 'arm64: %s\n' "$*" >&2; }

# What runs on arm64 under emulation: the addon's own tests on the
# software PCMs (bit-exact through file PCMs, the converter and drift
# interpolator, the clock sink, the fault PCM), and the service started as a
# process: health and headless mode, the doctor, device loss and reopen.
ARM64_TESTS=(
  test/native/bit-exact.test.ts
  test/native/converter.test.ts
  test/native/drift-interpolator.test.ts
  test/native/clock-sink.test.ts
  test/native/fault-pcm.test.ts
  test/service/health.test.ts
  test/diagnostics/doctor-cli.test.ts
  test/service/device-loss.test.ts
)
# CI's share of them (npm test's arm64 stage), to keep the stage's time in
# bounds: the addon's conversion, bit-exact output and fault handling, and
# the service's headless start and device loss. Left to the full set: the
# doctor, the clock sink's pacing and the drift interpolator (about 100 s
# under emulation).
ARM64_CI_TESTS=(
  test/native/bit-exact.test.ts
  test/native/converter.test.ts
  test/native/fault-pcm.test.ts
  test/service/health.test.ts
  test/service/device-loss.test.ts
)

# Installs the Debian packages named that are missing.
install_packages() {
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
    apt-get update -qq
  fi
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

setup() {
  install_packages qemu-user-static binfmt-support libc6:arm64 libstdc++6:arm64
  # Without binfmt_misc, an arm64 program run by name (node starting node)
  # fails with "exec format error".
  if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  fi
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64
  "$(node_dir)/bin/node" -e 'if (process.arch !== "arm64") process.exit(1)' || { log "arm64 Node does not run under qemu-user"; exit 1; }
  log "set up: $("$(node_dir)/bin/node" -p '`Node ${process.version} on ${process.arch}`') through qemu-user"
}

node_dir() { bash "$root/scripts/node-dist.sh" "" arm64; }

# The tree: what git tracks, and this checkout's dist/ and node_modules.
tree() {
  mkdir -p "$out"
  (cd "$root" && npm run --silent build >/dev/null)
  (cd "$root" && git ls-files -z -- src native test k8s binding.gyp package.json tsconfig.json | tar --null -T - -cf -) | tar -xf - -C "$out"
  rm -rf "$out/dist" && cp -a "$root/dist" "$out/dist"
  ln -sfn "$root/node_modules" "$out/node_modules"
}

build() {
  local started=$SECONDS
  install_packages crossbuild-essential-arm64
  tree
  STATIC_DEPS_HOST=$host STATIC_DEPS_DIR="$out/deps" bash "$root/scripts/build-static-deps.sh"
  local deps_done=$SECONDS
  (cd "$out" && CC=$host-gcc CXX=$host-g++ "$root/node_modules/.bin/node-gyp" rebuild --arch=arm64 --nodedir="$(node_dir)" -j "$jobs" >"$out/node-gyp.log" 2>&1) \
    || { tail -30 "$out/node-gyp.log" >&2; exit 1; }
  log "built: $(readelf -h "$out/build/Release/speakerd.node" | sed -nE 's/^ *Machine: *//p'); static libraries $((deps_done - started)) s, addon $((SECONDS - deps_done)) s"
}

from_image() {
  local image=$1 docker=${DOCKER:-docker} container
  [ "$("$docker" image inspect -f '{{.Architecture}}' "$image")" = arm64 ] || { log "$image is not an arm64 image"; exit 1; }
  tree
  rm -rf "$out/build" "$out/deps"
  mkdir -p "$out/build/Release" "$out/deps/alsa-lib"
  container=$("$docker" create "$image")
  "$docker" cp "$container:/app/build/Release/speakerd.node" "$out/build/Release/speakerd.node"
  "$docker" cp "$container:/app/deps/alsa-lib/share" "$out/deps/alsa-lib/share"
  "$docker" rm "$container" >/dev/null
  log "from $image: $(readelf -h "$out/build/Release/speakerd.node" | sed -nE 's/^ *Machine: *//p')"
}

run_tests() {
  local files=("$@")
  if [ "${1:-}" = --ci ]; then files=("${ARM64_CI_TESTS[@]}"); fi
  [ ${#files[@]} -gt 0 ] || files=("${ARM64_TESTS[@]}")
  local node
  node="$(node_dir)/bin/node"
  # tap's own processes run on arm64 Node too: every test file is an arm64
  # process, and so is every service a test starts (process.execPath).
  # SPEAKERD_TEST_EMULATED: what a test may not read as the program's own
  # (RSS, which under qemu-user is mostly qemu's translated code).
  local emulated=
  [ "$(uname -m)" = aarch64 ] || emulated=qemu-user
  # env -u NODE_OPTIONS: a caller's tap (the arm64 stage) hands its loaders
  # down there; this tap brings its own.
  (cd "$out" && env -u NODE_OPTIONS PATH="$(dirname "$node"):$PATH" SPEAKERD_TEST_EMULATED=$emulated "$node" "$root/node_modules/.bin/tap" --jobs=1 --timeout=600 "${files[@]}")
}

case ${1:-} in
  setup) setup ;;
  build) build ;;
  from-image) from_image "${2:?from-image needs an image}" ;;
  test) shift; run_tests "$@" ;;
  *) echo "usage: scripts/arm64.sh setup | build | from-image IMAGE | test [--ci | FILE...]" >&2; exit 2 ;;
esac
