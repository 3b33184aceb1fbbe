#!/usr/bin/env bash
# A machine-wide cache of the static C libraries in deps/, so that a fresh
# clone on a machine that has set speakerd up before (CI's clones) copies
# them instead of building them again (about 200 s on 2 cores).
#
# An entry is keyed by everything its build depends on that the libraries'
# own stamps (deps/<name>/.stamp) do not record: scripts/build-static-deps.sh's
# text, which pins every version, checksum and flag and says how a library is
# built, and the compilers' versions and targets. Restored libraries are
# still checked by build-static-deps.sh against its stamps: one whose stamp
# does not match what it wants is built again.
#
# Usage: scripts/static-deps-cache.sh restore | keep
#   restore  copies the entry for this clone's key into deps/, if there is one
#   keep     copies deps/'s built libraries into a new entry, if there is none
# STATIC_DEPS_CACHE names the cache folder (default
# ~/.cache/speakerd/static-deps); empty turns the cache off. A cache that
# cannot be read or written costs only time, never the setup.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${STATIC_DEPS_CACHE-${HOME:-/root}/.cache/speakerd/static-deps}
case ${1:-} in
  restore | keep) ;;
  *)
    echo "usage: scripts/static-deps-cache.sh restore | keep" >&2
    exit 2
    ;;
esac
[ -n "$cache" ] || exit 0

log() { printf 'static-deps-cache: %s\n' "$*" >&2; }

key=$({
  cat "$root/scripts/build-static-deps.sh"
  gcc -dumpfullversion -dumpmachine
  g++ -dumpfullversion -dumpmachine
} | sha256sum | cut -c1-16)
entry="$cache/$key"

case ${1:-} in
  restore)
    if [ -d "$entry" ]; then
      mkdir -p "$root/deps"
      # Library by library: copying "$entry/." would give deps/ the entry's
      # own mode (mktemp's 0700), and uid 10001 and nobody, whom the tests
      # run speakerd as, could no longer read alsa-lib's configuration there.
      libraries=("$entry"/*)
      if cp -a "${libraries[@]}" "$root/deps/"; then
        log "restored $(ls "$entry" | tr '\n' ' ')from $entry"
      else
        # Half a library with its stamp would pass for a built one.
        for library in "${libraries[@]}"; do rm -rf "$root/deps/${library##*/}"; done
        log "cannot copy $entry: building instead"
      fi
    fi
    ;;
  keep)
    [ ! -e "$entry" ] || exit 0
    # The libraries are the folders with a stamp; deps/ also holds the Node
    # downloads and kernels, which are not built from these pins.
    libraries=()
    for stamp in "$root"/deps/*/.stamp; do
      [ -f "$stamp" ] && libraries+=("$(dirname "$stamp")")
    done
    [ ${#libraries[@]} -gt 0 ] || exit 0
    # Into a temporary folder first, then renamed: a setup running beside
    # this one never restores half an entry.
    if mkdir -p "$cache" 2>/dev/null && temp=$(mktemp -d "$cache/.incoming.XXXXXX" 2>/dev/null); then
      if cp -a "${libraries[@]}" "$temp/" && chmod 755 "$temp" && mv -T "$temp" "$entry" 2>/dev/null; then
        log "kept $(ls "$entry" | tr '\n' ' ')in $entry"
      else
        rm -rf "$temp"
      fi
    else
      log "cannot write $cache: nothing kept"
    fi
    ;;
esac
