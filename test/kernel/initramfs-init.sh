#!/bin/busybox sh
# PID 1 of the initramfs that scripts/kernel-vm.sh builds. It exists only to
# reach the host's root: Debian's kernel has virtio, 9p and overlayfs as
# modules, so they are loaded here (the order file lists them with their
# dependencies, resolved from modules.dep when the initramfs was built).
#
# It then builds the guest's root, a writable view of the host's:
#   /mnt/host   the host's / over virtio-9p, read-only
#   /mnt/rw     tmpfs holding the overlay's upper layer (lost at power-off)
#   /mnt/root   overlayfs of the two, so the guest can write anywhere
# and mounts two more shares into it: the kernel's modules at
# /lib/modules/$(uname -r), since the host has none (modprobe needs them),
# and the run's job folder at /run/kernel-vm (writable: command in, results
# out). Then it hands over to the job's guest-init.sh.
export PATH=/bin

# Any failure here leaves PID 1 exiting: the kernel panics, panic=-1 reboots
# at once and QEMU's -no-reboot turns that into QEMU exiting. The host then
# finds no exit code and shows this console.
fail() {
  echo "initramfs: $*" >&2
  exit 1
}

/bin/busybox mkdir -p /bin
/bin/busybox --install -s /bin
mkdir -p /mnt/host /mnt/rw /mnt/root

while read -r module; do
  insmod "/modules/$module" || fail "insmod $module failed"
done </modules/order

# msize: 9p's default is 8 KiB per message, a round trip for every 8 KiB
# read; 512000 (125 pages) is the most this kernel's virtio transport takes.
# cache=loose keeps pages and metadata in the guest: the host's root does not
# change under a running guest, and every re-read over 9p costs a round trip.
# The job share is uncached, so that what the guest writes is on the host as
# soon as it is written (the host follows the command's output live).
options=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o "$options,ro,cache=loose" host-root /mnt/host || fail "cannot mount the host's root"
mount -t tmpfs -o mode=0755 tmpfs /mnt/rw
mkdir -p /mnt/rw/upper /mnt/rw/work
mount -t overlay -o lowerdir=/mnt/host,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work overlay /mnt/root ||
  fail "cannot mount the overlay"

modules=/mnt/root/lib/modules/$(uname -r)
mkdir -p "$modules" /mnt/root/run/kernel-vm
mount -t 9p -o "$options,ro,cache=loose" modules "$modules" || fail "cannot mount the modules"
mount -t 9p -o "$options" job /mnt/root/run/kernel-vm || fail "cannot mount the job folder"

exec switch_root /mnt/root /bin/bash /run/kernel-vm/guest-init.sh
