#!/usr/bin/env bash
# A real Linux sound driver for the tests. This machine's kernel (and CI's)
# has no sound support, but Debian's own kernel has snd-aloop (a loopback
# card) and snd-dummy (a paced card with a mixer) as modules. This boots that
# kernel under QEMU, with the host's root as the guest's (read-only over
# virtio-9p, with a tmpfs overlay so the guest can write), loads both drivers
# and runs one command there: the tests run against real /dev/snd nodes, with
# the same node, tree and alsa-utils as the host.
#
# Usage:
#   scripts/kernel-vm.sh prepare
#       Fetches and unpacks the kernel, builds the initramfs (cached in
#       deps/kernel/; redone when Debian's kernel version changes). Prints
#       the kernel version.
#   scripts/kernel-vm.sh run [--timeout SECONDS] COMMAND [ARGS...]
#       Prepares, boots, runs COMMAND as root in the repo's root folder and
#       powers off. COMMAND's stdout is this script's stdout, its stderr this
#       script's stderr, its exit code this script's exit code (124 if it ran
#       out of time, 125 if the guest never got to run it). The console goes
#       to deps/kernel/console.log (the last run's); the boot time to stderr.
#   scripts/kernel-vm.sh shell
#       The same guest with a shell on the terminal, for debugging. Exit the
#       shell to power off.
# KERNEL_VM_APPEND adds to the kernel's command line: loglevel=7 undoes
# `quiet`, for a console that shows the boot.
#
# Needs (scripts/setup.sh installs them): qemu-system-x86, busybox-static,
# kmod, xz-utils, cpio, and alsa-utils for the tests in the guest.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=$root/deps/kernel
guest_dir=$root/test/kernel

log() { echo "kernel-vm: $*" >&2; }
die() {
  log "$*"
  exit 125
}

require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool is missing: run scripts/setup.sh"
  done
}

# The versioned kernel package that linux-image-amd64 points at today, e.g.
# linux-image-6.1.0-57-amd64. A machine that never ran `apt-get update` has
# no package lists: fetch them then, and only then.
kernel_package() {
  local package
  package=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
  if [ -z "$package" ]; then
    log "apt does not know linux-image-amd64: apt-get update"
    apt-get update -qq >&2
    package=$(apt-cache depends linux-image-amd64 | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
  fi
  [ -n "$package" ] || die "apt-cache names no kernel package for linux-image-amd64"
  echo "$package"
}

# Unpacks the kernel package (never installs it: the host's /boot and
# /lib/modules stay untouched) into $dir/root.
fetch_kernel() {
  local package=$1 dir=$2 version=$3
  # The download folder is in the work tree, which apt's unprivileged _apt
  # user cannot write; apt would fall back to root anyway, with a warning.
  local download=(apt-get download -qq -o APT::Sandbox::User=root "$package")
  # Old kernel packages leave the archive: stale lists then name a file that
  # is gone, and fresh ones name its successor.
  (cd "$dir" && "${download[@]}") >&2 || {
    apt-get update -qq >&2
    (cd "$dir" && "${download[@]}") >&2
  }
  dpkg-deb -x "$dir"/"$package"_*.deb "$dir/root"
  rm -f "$dir"/"$package"_*.deb
  # Debian's package ships no modules.dep (its postinst runs depmod); modprobe
  # needs it, here to resolve the initramfs's modules and in the guest.
  depmod -b "$dir/root" "$version"
}

# QEMU boots an uncompressed ELF vmlinux directly through its PVH entry point
# (5-6 s from QEMU's start to the guest's command here, under TCG); the
# bzImage would first run its own decompressor in emulation. The bzImage's payload is an xz stream: find its
# magic and decompress from there, ignoring what follows the stream (xz then
# stops reading, and tail dies of SIGPIPE: not an error).
extract_vmlinux() {
  local vmlinuz=$1 vmlinux=$2 offset
  offset=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | head -n 1 | cut -d: -f1)
  [ -n "$offset" ] || die "no xz stream in $vmlinuz"
  { tail -c +$((offset + 1)) "$vmlinuz" || true; } | xz -dc --single-stream >"$vmlinux.tmp"
  [ "$(head -c 4 "$vmlinux.tmp")" = $'\x7fELF' ] || die "what $vmlinuz holds is not an ELF kernel"
  mv "$vmlinux.tmp" "$vmlinux"
}

# The initramfs: static busybox, initramfs-init.sh as /init, and the modules
# needed to reach the host's root: the virtio PCI transport, 9p over virtio,
# and overlayfs, each with its dependencies in load order as modprobe reads
# them from modules.dep. Uncompressed (3.4 MB): nothing for the kernel to
# decompress in emulation.
build_initramfs() {
  local dir=$1 version=$2 staging module
  staging=$(mktemp -d)
  mkdir -p "$staging/bin" "$staging/dev" "$staging/modules"
  cp /bin/busybox "$staging/bin/busybox"
  install -m 0755 "$guest_dir/initramfs-init.sh" "$staging/init"
  # The kernel opens /dev/console for /init's stdio before /init runs.
  mknod "$staging/dev/console" c 5 1
  for module in virtio_pci 9pnet_virtio 9p overlay; do
    modprobe -d "$dir/root" -S "$version" --show-depends "$module"
  done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' | while read -r module; do
    cp "$module" "$staging/modules/"
    basename "$module" >>"$staging/modules/order"
  done
  (cd "$staging" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$dir/initramfs.cpio.tmp"
  rm -rf "$staging"
  mv "$dir/initramfs.cpio.tmp" "$dir/initramfs.cpio"
}

# Sets $version and $kernel_dir, fetching and building what is not cached.
prepare() {
  require apt-get apt-cache dpkg-deb depmod modprobe xz cpio busybox flock
  # One preparation at a time: runs started together share the cache.
  exec {lock}>"$cache/.lock"
  flock "$lock"
  local package
  package=$(kernel_package)
  version=${package#linux-image-}
  kernel_dir=$cache/$version
  # The stamp is written last: a half-done preparation is redone from scratch.
  if [ ! -e "$kernel_dir/prepared" ]; then
    log "preparing kernel $version"
    # Earlier kernels' folders (hundreds of MB of modules each).
    rm -rf "$cache"/[0-9]*/
    mkdir -p "$kernel_dir"
    fetch_kernel "$package" "$kernel_dir" "$version"
    extract_vmlinux "$kernel_dir/root/boot/vmlinuz-$version" "$kernel_dir/vmlinux"
    touch "$kernel_dir/prepared"
  fi
  if [ ! -e "$kernel_dir/initramfs.cpio" ] || [ "$guest_dir/initramfs-init.sh" -nt "$kernel_dir/initramfs.cpio" ] ||
    [ /bin/busybox -nt "$kernel_dir/initramfs.cpio" ]; then
    build_initramfs "$kernel_dir" "$version"
  fi
  exec {lock}>&-
}

# Copies QEMU's console to the file $1, and times the boot by the guest's
# "command starting" line: from QEMU's start ($2, in ns), firmware and all.
log_console() {
  local file=$1 started=$2 line
  # (|| [ -n ]: the console's last line has no newline.)
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%$'\r'}
    printf '%s\n' "$line"
    # The marker may share its line with SeaBIOS's last words.
    if [[ $line == *"kernel-vm: command starting" ]]; then
      local ms=$((($(date +%s%N) - started) / 1000000))
      printf 'kernel-vm: boot took %d.%03d s (QEMU start to guest command)\n' $((ms / 1000)) $((ms % 1000)) >&2
    fi
  done >"$file"
}

# Boots the guest on the job folder $1 (see guest-init.sh for what it holds),
# with QEMU killed after $2 seconds should the guest not power off. With $3 =
# 1, on this terminal and waiting for the end; otherwise in the background,
# its console in $1/console, with $qemu_pid to wait for (timeout(1)'s 124
# says QEMU was killed).
boot() {
  local job=$1 host_limit=$2 interactive=$3
  # shellcheck disable=SC2054  # the commas are QEMU's
  local qemu=(
    # Should this script be killed (a test runner's timeout), timeout(1) gets
    # SIGTERM and passes it on to QEMU, rather than QEMU running on.
    setpriv --pdeathsig TERM
    timeout --kill-after=5 "$host_limit"
    # The guest's sound cards run on the host's wall clock, and a vCPU that
    # the host deschedules starves the guest's playback thread whatever its
    # priority there: ahead of ordinary host work, the guest keeps real time
    # while other processes keep both cores busy (the suite's tests assert
    # exact captures). Root runs it; elsewhere nice(1) only warns.
    nice -n -10
    qemu-system-x86_64
    -accel tcg,thread=multi -cpu max -smp 2 -m 2048
    -nographic -no-reboot -nic none
    -kernel "$kernel_dir/vmlinux" -initrd "$kernel_dir/initramfs.cpio"
    # quiet: the console is a slow emulated UART. mitigations=off: a
    # throwaway test guest has nothing to protect, and node starts ~10 %
    # faster without them (six starts: 3.3 s against 3.6-3.9 s).
    -append "console=ttyS0 panic=-1 quiet mitigations=off ${KERNEL_VM_APPEND-}"
    # multidevs=remap: the host's root spans several file systems, whose inode
    # numbers would otherwise collide in the guest.
    -virtfs "local,path=/,mount_tag=host-root,readonly=on,multidevs=remap,security_model=none"
    -virtfs "local,path=$kernel_dir/root/lib/modules/$version,mount_tag=modules,readonly=on,security_model=none"
    -virtfs "local,path=$job,mount_tag=job,security_model=none"
  )
  if [ "$interactive" = 1 ]; then
    "${qemu[@]}" || true
    return
  fi
  "${qemu[@]}" </dev/null > >(log_console "$job/console" "$(date +%s%N)") 2>&1 &
  qemu_pid=$!
}

run() {
  local interactive=$1
  shift
  local time_limit=600
  if [ "${1-}" = --timeout ]; then
    time_limit=$2
    shift 2
  fi
  [ "$interactive" = 1 ] || [ $# -gt 0 ] || die "run: no command given"
  require qemu-system-x86_64 timeout setpriv
  prepare
  local job
  job=$(mktemp -d)
  # shellcheck disable=SC2064  # $job is fixed now
  trap "rm -rf '$job'" EXIT
  local cwd=$root command=("$@")
  cp "$guest_dir/guest-init.sh" "$job/"
  declare -p cwd time_limit interactive command >"$job/job.sh"
  # Boot (about 10 s) and power-off on top of the command's own limit.
  local host_limit=$((time_limit + 120))
  if [ "$interactive" = 1 ]; then
    boot "$job" "$host_limit" 1
    return
  fi

  : >"$job/stdout"
  : >"$job/stderr"
  boot "$job" "$host_limit" 0
  # The command's output as the guest writes it (the job share is uncached),
  # so that a long suite shows its progress. tail --pid ends with QEMU, after
  # a last read.
  tail -q -n +1 -s 0.2 -f --pid="$qemu_pid" "$job/stderr" >&2 &
  tail -q -n +1 -s 0.2 -f --pid="$qemu_pid" "$job/stdout"
  local qemu_status=0
  wait "$qemu_pid" || qemu_status=$?
  # The other tail, and the console's reader.
  wait
  cp "$job/console" "$cache/console.log"

  if [ ! -s "$job/exit-code" ]; then
    [ "$qemu_status" = 124 ] && log "QEMU did not power off in time and was killed"
    log "the guest did not finish the command; the end of its console (deps/kernel/console.log):"
    tail -n 40 "$job/console" >&2
    exit 125
  fi
  exit "$(cat "$job/exit-code")"
}

main() {
  mkdir -p "$cache"
  case "${1-}" in
  prepare)
    prepare
    echo "$version"
    ;;
  run)
    shift
    run 0 "$@"
    ;;
  shell)
    run 1
    ;;
  *)
    echo "usage: $0 prepare | run [--timeout SECONDS] COMMAND [ARGS...] | shell" >&2
    exit 2
    ;;
  esac
}

# On one line, so that bash has read the whole file before it runs any of it:
# editing the script then cannot disturb a run in progress.
main "$@"; exit
