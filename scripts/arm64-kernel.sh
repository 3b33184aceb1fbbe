#!/usr/bin/env bash
# Debian's arm64 kernel under qemu-system-aarch64 (TCG), for what qemu-user
# cannot show: a seccomp filter's aarch64 list is only ever consulted by an
# aarch64 kernel (under qemu-user, the host kernel filters qemu's own x86_64
# calls). The guest's root is a folder of this machine's, shared read-write
# over virtio-9p; the initramfs only loads 9p and hands over to its
# /guest.sh, whose output is this script's.
#
# Usage:
#   scripts/arm64-kernel.sh prepare      fetch the kernel and busybox, build the
#                                        initramfs (cached in deps/kernel-arm64/)
#   scripts/arm64-kernel.sh add-runc ROOT
#       unpacks Debian's runc and libseccomp2 for arm64 into ROOT (the debs
#       are cached beside the kernel)
#   scripts/arm64-kernel.sh run ROOT [TIMEOUT_S]
#       boots with ROOT as /, runs ROOT/guest.sh as root there and powers off.
#       Its exit code is guest.sh's (written to ROOT/guest.exit), 125 if it
#       never got one.
# Needs qemu-system-arm (scripts/setup.sh installs it) and an arm64 dpkg
# architecture (scripts/arm64.sh setup adds it).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=$root/deps/kernel-arm64

log() { echo "arm64-kernel: $*" >&2; }

# Modules the initramfs loads, in order: virtio over MMIO (qemu's virt
# machine), then 9p over it.
MODULES=(virtio_mmio netfs fscache 9pnet 9pnet_virtio 9p)

download() {
  (cd "$1" && apt-get download -qq -o APT::Sandbox::User=root "$2") >&2 || {
    apt-get update -qq >&2
    (cd "$1" && apt-get download -qq -o APT::Sandbox::User=root "$2") >&2
  }
}

prepare() {
  local package version
  package=$(apt-cache depends linux-image-arm64:arm64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
  [ -n "$package" ] || { log "apt names no kernel for linux-image-arm64:arm64 (scripts/arm64.sh setup, then apt-get update)"; exit 1; }
  version=${package#linux-image-}
  version=${version%:arm64}
  if [ -f "$cache/$version/initrd.gz" ]; then echo "$version"; return; fi
  local dir=$cache/$version
  rm -rf "${cache:?}/"[0-9]* && mkdir -p "$dir/debs" "$dir/initrd/bin" "$dir/initrd/modules"
  download "$dir/debs" "$package"
  download "$dir/debs" busybox-static:arm64
  dpkg-deb -x "$dir"/debs/linux-image-*.deb "$dir/kernel"
  dpkg-deb -x "$dir"/debs/busybox-static_*.deb "$dir/busybox"
  cp "$dir/busybox/bin/busybox" "$dir/initrd/bin/busybox"
  local module file
  for module in "${MODULES[@]}"; do
    file=$(find "$dir/kernel/lib/modules/$version" -name "$module.ko*" | head -n 1)
    [ -n "$file" ] || { log "no $module in $package"; exit 1; }
    cp "$file" "$dir/initrd/modules/$module.ko"
  done
  printf '%s\n' "${MODULES[@]}" >"$dir/initrd/modules/order"
  cp "$dir/kernel/boot/vmlinuz-$version" "$dir/Image"
  cat >"$dir/initrd/init" <<'INIT'
#!/bin/busybox sh
# PID 1: load virtio and 9p, mount the shared root, bring loopback up (no
# init system will), and hand over to its /guest.sh.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc && mount -t sysfs sysfs /sys && mount -t devtmpfs devtmpfs /dev
while read -r module; do insmod "/modules/$module.ko" || exit 1; done </modules/order
ip link set lo up
mkdir -p /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 root /newroot || exit 1
mount --move /proc /newroot/proc && mount --move /sys /newroot/sys && mount --move /dev /newroot/dev
exec switch_root /newroot /bin/sh /guest.sh
INIT
  chmod +x "$dir/initrd/init"
  mkdir -p "$dir/initrd/proc" "$dir/initrd/sys" "$dir/initrd/dev"
  (cd "$dir/initrd" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$dir/initrd.gz"
  rm -rf "$dir/kernel" "$dir/busybox" "$dir/debs"
  echo "$version"
}

add_runc() {
  local share=${1:?add-runc needs the root folder} debs=$cache/debs
  mkdir -p "$debs"
  ls "$debs"/runc_*_arm64.deb >/dev/null 2>&1 || download "$debs" runc:arm64
  ls "$debs"/libseccomp2_*_arm64.deb >/dev/null 2>&1 || download "$debs" libseccomp2:arm64
  local deb
  for deb in "$debs"/runc_*_arm64.deb "$debs"/libseccomp2_*_arm64.deb; do dpkg-deb -x "$deb" "$share"; done
}

run() {
  local share=${1:?run needs the root folder} limit=${2:-600} version
  version=$(prepare)
  [ -f "$share/guest.sh" ] || { log "$share/guest.sh is missing"; exit 1; }
  rm -f "$share/guest.exit"
  local started=$SECONDS
  # The console is the guest's stdout; the kernel's own lines are quiet.
  timeout "$limit" qemu-system-aarch64 -M virt -cpu max -smp 2 -m 1536 -accel tcg,thread=multi \
    -kernel "$cache/$version/Image" -initrd "$cache/$version/initrd.gz" \
    -append "console=ttyAMA0 panic=-1 quiet" -nographic -no-reboot -nic none \
    -fsdev "local,id=root,path=$share,security_model=passthrough,multidevs=remap" \
    -device virtio-9p-device,fsdev=root,mount_tag=root </dev/null | tr -d '\r' || true
  log "kernel $version: $((SECONDS - started)) s from boot to power-off"
  [ -f "$share/guest.exit" ] || { log "the guest wrote no exit code"; exit 125; }
  exit "$(cat "$share/guest.exit")"
}

case ${1:-} in
  prepare) prepare ;;
  add-runc) add_runc "${2:-}" ;;
  run) shift; run "$@" ;;
  *) echo "usage: scripts/arm64-kernel.sh prepare | add-runc ROOT | run ROOT [TIMEOUT_S]" >&2; exit 2 ;;
esac
