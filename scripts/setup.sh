#!/usr/bin/env bash
# Sets up a fresh Debian bookworm machine (Node 20, root) to build, run and
# test speakerd: the system packages the build needs, then `npm ci`, which
# builds static alsa-lib (scripts/build-static-deps.sh), the addon and the
# TypeScript.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# g++/make/python3: node-gyp. bzip2 and xz-utils (below): the C libraries'
# tarballs. ca-certificates: npm over TLS. For the tests: binutils (nm),
# util-linux (unshare, mount), valgrind, curl, runc (the manifest's settings),
# docker.io and debootstrap (the Dockerfile, built on a locally assembled base
# image). g++ brings the sanitizer runtimes the native checks use. The kernel
# suite (scripts/kernel-vm.sh: Debian's kernel under QEMU, for real sound
# drivers): qemu-system-x86, busybox-static (its initramfs), kmod (depmod,
# modprobe), xz-utils (the kernel image), cpio, and alsa-utils (aplay, arecord
# and amixer, which the guest runs from this machine's root). For the benches:
# wrk (bench/hostile.mjs floods /metrics and /v1/device with it). For the
# decoder tests, the reference encoders and decoders that make their fixtures
# and check speakerd's output: flac, opus-tools, vorbis-tools, mpg123, lame.
packages=(g++ make python3 bzip2 binutils util-linux valgrind curl ca-certificates runc docker.io debootstrap
  qemu-system-x86 busybox-static kmod xz-utils cpio alsa-utils wrk
  flac opus-tools vorbis-tools mpg123 lame)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

npm ci --no-audit --no-fund
