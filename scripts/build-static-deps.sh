#!/usr/bin/env bash
# Builds the C libraries that the addon links statically, into deps/ (git-ignored).
#
# The one place where their versions and checksums are pinned. Each library is:
#   1. fetched as Debian's source package, through a private deb-src list derived
#      from this machine's own apt sources (so no host name lives in this repo),
#      or taken from <NAME>_TARBALL=path (ALSA_LIB_TARBALL=..., SPEEXDSP_TARBALL=...);
#   2. verified against the pinned sha256 of the upstream tarball (Debian's
#      .orig tarball is the upstream release, byte for byte);
#   3. built as a position-independent static library and installed under
#      deps/<name>/, with a stamp that makes the next run a no-op.
#
# Usage: scripts/build-static-deps.sh [alsa-lib|speexdsp]...   (default: all)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
deps="$root/deps"
jobs=$(nproc 2>/dev/null || echo 2)

# name | Debian source package | upstream version | tarball | sha256
pinned=(
  "alsa-lib|alsa-lib|1.2.8|alsa-lib_1.2.8.orig.tar.bz2|1ab01b74e33425ca99c2e36c0844fd6888273193bd898240fe8f93accbcbf347"
  "speexdsp|speexdsp|1.2.1|speexdsp_1.2.1.orig.tar.gz|8c777343e4a6399569c72abc38a95b24db56882c83dbdb6c6424a5f4aeb54d3d"
)

# Configure flags, per library. --with-pic must never be used for alsa-lib: it
# defines PIC, which alsa-lib reads as "shared build" and then breaks the static
# symbol table of its built-in plugins. CFLAGS=-fPIC gives position-independent
# code without that. --with-libdl=no: external plugins fail cleanly with ENXIO
# instead of crashing inside glibc's dlinfo.
# The parts of alsa-lib speakerd never calls (MIDI, hwdep, the sequencer,
# the old symbol versions) are left out, so that fresh builds are shorter
# (docs/decisions.md, "CI stages", has the figures). The mixer stays (hardware volume), and so does aload: without it, a card whose
# control node the device cgroup refuses is reported as EPERM instead of
# alsa-lib's usual ENOENT, which the doctor's diagnosis is built on. No
# dependency tracking: a one-off build.
# speexdsp: only the resampler is used; its examples would link against the
# shared library we do not build.
configure_flags() {
  case "$1" in
    alsa-lib) echo "--enable-static --disable-shared --with-libdl=no --disable-python --disable-ucm --disable-topology --disable-rawmidi --disable-hwdep --disable-seq --disable-old-symbols --disable-dependency-tracking --prefix=/usr" ;;
    speexdsp) echo "--enable-static --disable-shared --disable-examples --prefix=/usr" ;;
  esac
}

# Per library being built: its work folder, verified source archive, version
# and stamp. Every work folder goes at exit.
declare -A works=() archives=() versions=() wants=()
trap 'for w in "${works[@]}"; do rm -rf "$w"; done' EXIT

log() { printf 'build-static-deps: %s\n' "$*" >&2; }

# Fetches Debian's source package of $1 into $2 through apt, using only a
# private copy of the system's sources with deb-src in place of deb.
fetch_debian_source() {
  local package=$1 into=$2 apt_dir
  apt_dir=$(mktemp -d)
  mkdir -p "$apt_dir/sources" "$apt_dir/lists/partial"
  local found=0
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    sed 's/^Types:.*/Types: deb-src/' "$f" >"$apt_dir/sources/$(basename "$f")"
    found=1
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -e "$f" ] || continue
    { grep -E '^[[:space:]]*deb[[:space:]]' "$f" || true; } | sed -E 's/^([[:space:]]*)deb([[:space:]])/\1deb-src\2/' \
      >"$apt_dir/sources/$(basename "$f").list"
    [ -s "$apt_dir/sources/$(basename "$f").list" ] && found=1
  done
  [ "$found" = 1 ] || { log "no apt sources found under /etc/apt"; return 1; }
  local apt_opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt_dir/sources"
    -o "Dir::State::Lists=$apt_dir/lists" -o APT::Sandbox::User=root -qq)
  apt-get "${apt_opts[@]}" update >&2
  (cd "$into" && apt-get "${apt_opts[@]}" source --download-only "$package" >&2)
  rm -rf "$apt_dir"
}

# First step, one library at a time, in the pinned order: is it cached?
# If not, fetch its source and verify the sha256. A mismatch stops the script
# here, before anything is built.
prepare_one() {
  local name=$1 entry package version tarball sha
  for entry in "${pinned[@]}"; do
    IFS='|' read -r n package version tarball sha <<<"$entry"
    [ "$n" = "$name" ] && break
    package=""
  done
  [ -n "$package" ] || { log "unknown library: $name"; return 2; }

  local prefix="$deps/$name" stamp="$deps/$name/.stamp"
  local want="$version $sha $(configure_flags "$name")"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "$name $version: cached in ${prefix#"$root/"}"
    return 0
  fi

  local work
  work=$(mktemp -d)
  works[$name]=$work
  local override_var
  override_var="$(echo "$name" | tr 'a-z-' 'A-Z_')_TARBALL"
  local archive
  if [ -n "${!override_var:-}" ]; then
    archive=${!override_var}
    log "$name $version: using $override_var=$archive"
  else
    log "$name $version: fetching Debian source package $package"
    fetch_debian_source "$package" "$work"
    archive="$work/$tarball"
    [ -f "$archive" ] || { log "$package: the source package has no $tarball (has: $(ls "$work" | tr '\n' ' '))"; return 1; }
  fi
  local got
  got=$(sha256sum "$archive" | cut -d' ' -f1)
  if [ "$got" != "$sha" ]; then
    log "$name: sha256 mismatch for $archive: expected $sha, got $got"
    return 1
  fi
  log "$name $version: sha256 verified; building"
  archives[$name]=$archive
  versions[$name]=$version
  wants[$name]=$want
}

# Second step: configure, make and install one verified library.
build_one() {
  local name=$1 work=${works[$1]} archive=${archives[$1]} version=${versions[$1]}
  local prefix="$deps/$name" stamp="$deps/$name/.stamp"
  mkdir -p "$work/src"
  tar -xf "$archive" -C "$work/src" --strip-components=1
  # shellcheck disable=SC2046
  (cd "$work/src" && CFLAGS="-O2 -fPIC" ./configure $(configure_flags "$name") >"$work/configure.log" 2>&1) \
    || { tail -30 "$work/configure.log" >&2; return 1; }
  (cd "$work/src" && make -j"$jobs" >"$work/make.log" 2>&1) || { tail -30 "$work/make.log" >&2; return 1; }
  (cd "$work/src" && make install DESTDIR="$work/dest" >"$work/install.log" 2>&1) || { tail -30 "$work/install.log" >&2; return 1; }

  # Keep only what the addon needs: the static library, headers and data files
  # (for alsa-lib: alsa.conf with its cards/ and pcm/ folders), not manuals
  # (speexdsp installs a PDF).
  rm -rf "$prefix"
  mkdir -p "$prefix"
  cp -a "$work/dest/usr/include" "$work/dest/usr/lib" "$prefix/"
  [ -d "$work/dest/usr/share" ] && cp -a "$work/dest/usr/share" "$prefix/"
  rm -rf "$prefix"/lib/*.la "$prefix/share/doc"
  rmdir "$prefix/share" 2>/dev/null || true  # when nothing else was in it
  echo "${wants[$name]}" >"$stamp"
  log "$name $version: installed in ${prefix#"$root/"}"
}

main() {
  mkdir -p "$deps"
  local names=("$@") entry name
  if [ ${#names[@]} -eq 0 ]; then
    for entry in "${pinned[@]}"; do names+=("${entry%%|*}"); done
  fi
  for name in "${names[@]}"; do prepare_one "$name"; done
  # The verified libraries build at once: their configure scripts mostly
  # wait on forks, and alsa-lib and speexdsp together took about as long as
  # alsa-lib alone (a fresh setup on CI's 2 cores: 108 → 85 s).
  local pids=() failed=0 pid
  for name in "${!archives[@]}"; do
    build_one "$name" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  return "$failed"
}

main "$@"
