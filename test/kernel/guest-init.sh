#!/bin/bash
# PID 1 of the guest that scripts/kernel-vm.sh boots, after the initramfs
# (initramfs-init.sh) has switched into the overlay of the host's root. It does
# what systemd and udev would on a Debian machine with a sound card, then runs
# the job's command with the results going to the job folder:
#   in:  /run/kernel-vm/job.sh     the command, its folder, its time limit
#   out: /run/kernel-vm/stdout, stderr, exit-code
#
# Whatever happens, it powers the guest off: the host waits for QEMU to exit.
# The EXIT trap covers failures and the end of the command; a watchdog covers
# a command that outlives its time limit; and if this script dies anyway, the
# kernel panics (PID 1 exited), panic=-1 reboots, and -no-reboot ends QEMU.
# shellcheck disable=SC2154  # cwd, time_limit, interactive, command: job.sh's
set -uo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
job=/run/kernel-vm

power_off() {
  sync
  [ -e /proc/sysrq-trigger ] || mount -t proc proc /proc
  echo o >/proc/sysrq-trigger
  # The power-off runs from a kernel work queue; returning now would make PID
  # 1 exit first and print a panic in the console.
  sleep 10
}
trap power_off EXIT

fail() {
  echo "guest-init: $*" >&2
  exit 1
}

# Written by the host for each run: sets cwd, time_limit, interactive and the
# array command.
# shellcheck source=/dev/null
source "$job/job.sh" || fail "no job"

# The mounts systemd makes, in one mount(8) from an fstab: each command costs
# ~0.15 s under TCG, mostly loading libraries over 9p (and mount(8) reads
# only a regular file as fstab, not a here-document's pipe). /dev/shm is a
# fresh tmpfs; /tmp is not: the work tree may live under the host's /tmp (CI
# clones anywhere), and the overlay already sends the guest's writes there to
# its own tmpfs. X-mount.mkdir: devtmpfs has no pts/ or shm/.
printf '%s\n' \
  'proc     /proc     proc     defaults                                     0 0' \
  'sysfs    /sys      sysfs    defaults                                     0 0' \
  'devtmpfs /dev      devtmpfs defaults                                     0 0' \
  'devpts   /dev/pts  devpts   gid=5,mode=0620,ptmxmode=0666,X-mount.mkdir  0 0' \
  'tmpfs    /dev/shm  tmpfs    mode=1777,nosuid,nodev,X-mount.mkdir         0 0' \
  >/run/kernel-vm.fstab
mount --all --fstab /run/kernel-vm.fstab || fail "cannot mount the API file systems"
# Tests talk HTTP over 127.0.0.1; there is no other network (-nic none).
# busybox (static, in the host's root for the initramfs) rather than ip(8):
# iproute2 is not on every Debian machine.
busybox ip link set lo up || fail "cannot bring lo up"

# The watchdog: the command gets time_limit seconds (timeout(1) below), this
# powers off a little later should even that not end it.
(
  sleep $((time_limit + 15))
  echo "guest-init: time limit of ${time_limit} s passed, powering off" >&2
  echo o >/proc/sysrq-trigger
) &

# Fixed indexes, so that hw:0 is always the loopback and hw:1 the dummy card
# whatever order the modules load in. In modprobe.d, as an operator would:
# a test that reloads a module gets the same card back.
mkdir -p /run/modprobe.d
printf 'options %s\n' 'snd-aloop index=0' 'snd-dummy index=1' >/run/modprobe.d/kernel-vm.conf
modprobe --all snd-aloop snd-dummy || fail "modprobe snd-aloop snd-dummy failed"
cards=$(</proc/asound/cards)
[[ $cards == " 0 [Loopback "*"
 1 [Dummy "* ]] || fail "the cards are not 0 Loopback and 1 Dummy: $cards"
# Without udev the nodes are root:root 0600; Debian's rules
# (50-udev-default.rules: SUBSYSTEM=="sound", GROUP="audio") give them to the
# audio group, 0660.
{ chgrp audio /dev/snd/* && chmod 0660 /dev/snd/*; } || fail "cannot give /dev/snd to the audio group"

# The host times the boot by this line on the console.
echo "kernel-vm: command starting"
cd "$cwd" || fail "no folder $cwd"
if [ "$interactive" = 1 ]; then
  # A shell on the serial port with it as the controlling terminal, so that
  # Ctrl-C reaches the shell's jobs rather than nothing.
  setsid --ctty bash -l </dev/ttyS0 >/dev/ttyS0 2>&1
  echo $? >"$job/exit-code"
else
  # Appending: the host follows both files as they grow (tail -f).
  timeout --kill-after=10 "$time_limit" "${command[@]}" </dev/null >>"$job/stdout" 2>>"$job/stderr"
  echo $? >"$job/exit-code"
fi
