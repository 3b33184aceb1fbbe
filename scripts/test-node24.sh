#!/usr/bin/env bash
# Runs the whole test suite again under the Node the container image ships
# (the Dockerfile's NODE_VERSION, Node 24 LTS, from scripts/node-dist.sh).
# The addon built for the machine's Node loads as is: it uses only Node-API,
# whose ABI is stable.
#
# Usage: scripts/test-node24.sh [tap arguments]   (npm run test:node24)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=$(bash "$root/scripts/node-dist.sh")
version=${dir##*/node-v}
export PATH="$dir/bin:$PATH" SPEAKERD_TEST_NODE="v$version"
echo "test-node24: $(node --version) from ${dir#"$root/"}" >&2
cd "$root"
# npm and tap run on this node, and tap starts every test file with it.
npm run build
# Not the kernel suite (test/kernel/): its guest runs the machine's Node 20
# whatever node runs tap, so a second boot would test nothing new, and it is
# the slowest stage (scripts/kernel-vm.sh). --exclude replaces tap's default
# exclusion, so that is restated.
exec npx tap --exclude='**/@(fixture*(s)|dist)/**' --exclude='test/kernel/**' "$@"
