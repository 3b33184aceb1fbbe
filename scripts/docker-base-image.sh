#!/usr/bin/env bash
# Assembles, on a machine that reaches no container registry, the base image
# the Dockerfile builds FROM (node:<version>-bookworm-slim), so that
# `docker build` needs no pull.
#
# It is what the official image is made of: a Debian bookworm minbase root
# (debootstrap, from this machine's own apt mirror, so no host name lives in
# this repo), Node from the npm registry's node-linux-<arch> package and npm
# installed beside it, both under /usr/local. Where a registry is reachable,
# the official image is used instead and this script is not needed.
#
# Usage:
#   scripts/docker-base-image.sh                this machine's architecture,
#                                               tagged with the official name
#   scripts/docker-base-image.sh --registry R   amd64 and arm64, pushed to the
#       plain-HTTP registry R as one manifest list, R/library/node:<version>-bookworm-slim.
#       An engine whose registry mirror is R then pulls, for FROM node:...,
#       the architecture each stage needs (scripts/docker-multiarch.sh builds
#       the builder stage on amd64 and the runtime stage on arm64). The arm64
#       root's second debootstrap stage runs under qemu-user (binfmt_misc).
# DOCKER_HOST selects the engine. What is present (the tag, or the manifest
# list in R) is kept: the script is a no-op the second time.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
docker=${DOCKER:-docker}

# The versions the Dockerfile pins (its ARG defaults), read from there so that
# the two cannot drift apart.
dockerfile_arg() { sed -nE "s/^ARG $1=(.*)$/\1/p" "$root/Dockerfile" | head -n 1; }
node_version=$(dockerfile_arg NODE_VERSION)
npm_version=$(dockerfile_arg NPM_VERSION)
[ -n "$node_version" ] && [ -n "$npm_version" ] || { echo "docker-base-image: Dockerfile has no ARG NODE_VERSION / NPM_VERSION" >&2; exit 1; }
tag="node:${node_version}-bookworm-slim"

log() { printf 'docker-base-image: %s\n' "$*" >&2; }

registry=
case ${1:-} in
  "") ;;
  --registry) registry=${2:?--registry needs host:port} ;;
  *) echo "usage: scripts/docker-base-image.sh [--registry HOST:PORT]" >&2; exit 2 ;;
esac

if [ -z "$registry" ] && "$docker" image inspect "$tag" >/dev/null 2>&1; then
  log "$tag: present"
  exit 0
fi
if [ -n "$registry" ] && "$docker" manifest inspect --insecure "$registry/library/$tag" >/dev/null 2>&1; then
  log "$registry/library/$tag: present"
  exit 0
fi

# The first Debian mirror this machine's apt uses (deb822 or one-line format).
mirror=$( { sed -nE 's/^URIs:[[:space:]]*([^[:space:]]+).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null || true
            sed -nE 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+)[[:space:]]+bookworm[[:space:]].*/\2/p' /etc/apt/sources.list 2>/dev/null || true; } \
          | grep -v security | head -n 1 || true)
[ -n "$mirror" ] || { log "no Debian mirror found in /etc/apt"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Imports the root for Debian architecture $1 as image $2.
assemble() {
  local arch=$1 image=$2 node_arch
  local rootfs="$work/rootfs-$arch"
  case $arch in
    amd64) node_arch=x64 ;;
    arm64) node_arch=arm64 ;;
    *) log "no base image for $arch"; exit 1 ;;
  esac
  log "$arch: debootstrap minbase bookworm from $mirror"
  # --foreign unpacks only; the second stage runs the root's own dpkg, which
  # for arm64 is emulated: the one step here that needs qemu-user.
  debootstrap --arch="$arch" --foreign --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap-$arch.log" 2>&1 \
    && chroot "$rootfs" /debootstrap/debootstrap --second-stage >>"$work/debootstrap-$arch.log" 2>&1 \
    || { tail -20 "$work/debootstrap-$arch.log" >&2; exit 1; }
  # What the official slim images drop: package lists and downloaded debs.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb

  log "$arch: node $node_version and npm $npm_version from the npm registry"
  local node_dir
  node_dir=$(bash "$root/scripts/node-dist.sh" "$node_version" "$node_arch")
  [ -f "$work/npm-$npm_version.tgz" ] || (cd "$work" && npm pack --silent "npm@$npm_version" >/dev/null)
  mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
  cp -a "$node_dir/bin" "$node_dir/include" "$node_dir/share" "$rootfs/usr/local/"
  tar -xzf "$work/npm-$npm_version.tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  # No NODE_OPTIONS of the caller's (tap's loaders) in the root.
  [ "$(env -u NODE_OPTIONS chroot "$rootfs" /usr/local/bin/node -p process.arch)" = "$node_arch" ] || { log "$arch: node does not run in the root"; exit 1; }

  log "$arch: importing as $image"
  # A FROM-scratch build rather than `docker import`, whose --platform the
  # 20.10 engine ignores: the image's config must name its architecture, or
  # a manifest list of it would call both entries amd64.
  mkdir "$work/context-$arch"
  tar -C "$rootfs" -cf "$work/context-$arch/rootfs.tar" .
  printf '%s\n' 'FROM scratch' 'ADD rootfs.tar /' \
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "ENV NODE_VERSION=$node_version" 'CMD ["node"]' >"$work/context-$arch/Dockerfile"
  DOCKER_BUILDKIT=1 "$docker" build -q --platform "linux/$arch" -t "$image" "$work/context-$arch" >/dev/null
  rm -rf "$work/context-$arch"
  rm -rf "$rootfs"
  log "$image: $("$docker" image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}')"
}

if [ -z "$registry" ]; then
  assemble "$(dpkg --print-architecture)" "$tag"
  exit 0
fi

list="$registry/library/$tag"
native=$(dpkg --print-architecture)
for arch in amd64 arm64; do
  started=$SECONDS
  # This machine's own, when the first form of this script already made it.
  if [ "$arch" = "$native" ] && "$docker" image inspect "$tag" >/dev/null 2>&1; then
    "$docker" tag "$tag" "$list-$arch"
  else
    assemble "$arch" "$list-$arch"
    # ... and for the first form's next run, which then has nothing to do.
    if [ "$arch" = "$native" ]; then "$docker" tag "$list-$arch" "$tag"; fi
  fi
  "$docker" push -q "$list-$arch" >/dev/null
  "$docker" rmi "$list-$arch" >/dev/null
  log "$arch: pushed in $((SECONDS - started)) s"
done
"$docker" manifest rm "$list" >/dev/null 2>&1 || true
"$docker" manifest create --insecure "$list" "$list-amd64" "$list-arm64" >/dev/null
"$docker" manifest push --insecure --purge "$list" >/dev/null
log "$list: a manifest list of linux/amd64 and linux/arm64"
