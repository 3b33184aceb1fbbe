#!/usr/bin/env bash
# Runs the fast stage of the test suite again under the Node the container
# image ships (the Dockerfile's NODE_VERSION, Node 24 LTS, from
# scripts/node-dist.sh). The addon built for the machine's Node loads as is:
# it uses only Node-API, whose ABI is stable.
#
# Not the sanitizer, Docker or kernel stages (scripts/test-stages.sh): none
# runs its code on this Node. The sanitizers build and run C++ harnesses, the
# image carries its own Node 24 and the Docker stage already runs it, and the
# kernel guest runs the machine's Node 20 whatever node runs tap; each is a
# slow stage that npm test runs once.
#
# Nor test/service/sync-lock.test.ts: two minutes of audio played in real
# time (issue 17's 120 s stream), a third of the fast stage, whose subject,
# the clock lock, is native code (native/src/clock_lock.cc) that runs the
# same on either Node. The timed streams' JavaScript still runs here, in
# sync.test.ts and broadcast.test.ts.
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
exec bash "$root/scripts/test-stages.sh" fast -- --exclude=test/service/sync-lock.test.ts "$@"
