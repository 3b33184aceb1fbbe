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
# seccomp (scmp_sys_resolver: libseccomp's syscall tables, for the profile test),
# docker.io, docker-registry and debootstrap (the Dockerfile, built on a
# locally assembled base image, for amd64 and arm64 as one manifest list in a
# private registry), qemu-user-static and binfmt-support (the arm64 image's
# RUN steps and the arm64 tests run under qemu-user: scripts/arm64.sh),
# qemu-system-arm (Debian's arm64 kernel, for the profile's aarch64 list:
# scripts/arm64-kernel.sh). g++
# brings the sanitizer runtimes the native checks use. The kernel suite
# (scripts/kernel-vm.sh: Debian's kernel under QEMU, for real sound drivers):
# qemu-system-x86, busybox-static (its initramfs), kmod (depmod,
# modprobe), xz-utils (the kernel image), cpio, and alsa-utils (aplay, arecord
# and amixer, which the guest runs from this machine's root). For the benches:
# wrk (bench/hostile.mjs floods /metrics and /v1/device with it). For the
# decoder tests, the reference encoders and decoders that make their fixtures
# and check speakerd's output: flac, opus-tools, vorbis-tools, mpg123, lame.
packages=(g++ make python3 bzip2 binutils util-linux valgrind curl ca-certificates runc seccomp docker.io docker-registry debootstrap
  qemu-user-static binfmt-support qemu-system-arm
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

# arm64 programs (the arm64 image's build steps, its Node) run under qemu-user.
bash scripts/arm64.sh setup

# npm ci builds the static C libraries (unless this machine has built the
# same ones before: scripts/static-deps-cache.sh), the addon and the TypeScript.
bash scripts/static-deps-cache.sh restore
npm ci --no-audit --no-fund
bash scripts/static-deps-cache.sh keep
