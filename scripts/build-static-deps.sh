#!/usr/bin/env bash
# Builds the C libraries that the addon links statically, into deps/ (git-ignored).
#
# The one place where their versions and checksums are pinned. Each library is:
#   1. fetched as Debian's source package, through a private deb-src list derived
#      from this machine's own apt sources (so no host name lives in this repo),
#      or taken from <NAME>_TARBALL=path (ALSA_LIB_TARBALL=..., LIBOGG_TARBALL=...,
#      FLAC_TARBALL=...: the name in upper case, - as _);
#   2. verified against the pinned sha256 of Debian's .orig tarball (or
#      <NAME>_SHA256, for a modified library of one's own). It is the
#      upstream release, byte for byte, except for flac (Debian's +ds repack
#      drops the prebuilt API docs and man pages) and libwebm (upstream publishes
#      no tarballs; Debian's is made from the git tag libwebm-1.0.0.29);
#   3. built as a position-independent static library and installed under
#      deps/<name>/, with a stamp that makes the next run a no-op.
#
# Usage: scripts/build-static-deps.sh [name]...   (default: all; a library also
# brings the ones it is built against, see needs())
# Cross-compiling (scripts/arm64.sh): STATIC_DEPS_HOST=aarch64-linux-gnu
# builds with that GNU triplet's compilers (Debian's crossbuild-essential-*)
# into STATIC_DEPS_DIR (default deps/), from the same pinned sources.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
deps=${STATIC_DEPS_DIR:-$root/deps}
host=${STATIC_DEPS_HOST:-}
jobs=$(nproc 2>/dev/null || echo 2)
# The compilers, and configure's --host, for the machine the libraries are for.
cc=gcc cxx=g++ ar=ar host_args=()
if [ -n "$host" ]; then
  cc=$host-gcc cxx=$host-g++ ar=$host-ar host_args=("--host=$host")
  command -v "$cc" >/dev/null || { echo "build-static-deps: no $cc for STATIC_DEPS_HOST=$host (scripts/arm64.sh setup installs it)" >&2; exit 1; }
fi

# name | Debian source package | upstream version | tarball | sha256
# The order matters: main() queues the builds in it, each once what it needs
# (needs()) is installed, so a library comes after those, and libvorbis
# (libogg only) before opusfile (libogg and opus).
pinned=(
  "alsa-lib|alsa-lib|1.2.8|alsa-lib_1.2.8.orig.tar.bz2|1ab01b74e33425ca99c2e36c0844fd6888273193bd898240fe8f93accbcbf347"
  "speexdsp|speexdsp|1.2.1|speexdsp_1.2.1.orig.tar.gz|8c777343e4a6399569c72abc38a95b24db56882c83dbdb6c6424a5f4aeb54d3d"
  "libogg|libogg|1.3.5|libogg_1.3.5.orig.tar.xz|c4d91be36fc8e54deae7575241e03f4211eb102afb3fc0775fbbc1b740016705"
  "opus|opus|1.3.1|opus_1.3.1.orig.tar.gz|65b58e1e25b2a114157014736a3d9dfeaad8d41be1c8179866f144a2fb44ff9d"
  "flac|flac|1.4.2+ds|flac_1.4.2+ds.orig.tar.xz|47274ac8fcb1f0e6caa91d29f943925d7a40c0a3f6357c3275773bdb1ee46638"
  "mpg123|mpg123|1.31.2|mpg123_1.31.2.orig.tar.bz2|b17f22905e31f43b6b401dfdf6a71ed11bb7d056f68db449d70b9f9ae839c7de"
  "libwebm|libwebm|1.0.0.29|libwebm_1.0.0.29.orig.tar.xz|7867fcd8a573fa0cbff49484115595ff24463887db8f79d11fc772bb07568793"
  "libvorbis|libvorbis|1.3.7|libvorbis_1.3.7.orig.tar.gz|0e982409a9c3fc82ee06e08205b1355e5c6aa4c36bca58146ef399621b0ce5ab"
  "opusfile|opusfile|0.12|opusfile_0.12.orig.tar.gz|118d8601c12dd6a44f52423e68ca9083cc9f2bfe72da7a8c1acb22a80ae3550b"
)

# The libraries in deps/ that a library is built against.
needs() {
  case "$1" in
    libvorbis) echo "libogg" ;;
    opusfile) echo "libogg opus" ;;
  esac
}

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
# The decoders: the library alone, without programs, examples, tests or docs,
# which would cost build time and nothing else. flac without libogg (no Ogg
# FLAC: its own container is what speakerd reads) and without libFLAC++.
# opusfile without HTTP, which would need OpenSSL. mpg123 1.31 has no switch
# to leave out libout123, libsyn123 and its programs: make_flags() does that.
# libwebm has no configure: its "flags" are the g++ flags and the sources of
# its parsers (webm_parser, which reads a body front to back, and mkvparser)
# and of its muxer (build_libwebm()).
configure_flags() {
  case "$1" in
    alsa-lib) echo "--enable-static --disable-shared --with-libdl=no --disable-python --disable-ucm --disable-topology --disable-rawmidi --disable-hwdep --disable-seq --disable-old-symbols --disable-dependency-tracking --prefix=/usr" ;;
    speexdsp) echo "--enable-static --disable-shared --disable-examples --prefix=/usr" ;;
    libogg) echo "--enable-static --disable-shared --disable-dependency-tracking --prefix=/usr" ;;
    opus) echo "--enable-static --disable-shared --disable-doc --disable-extra-programs --disable-dependency-tracking --prefix=/usr" ;;
    flac) echo "--enable-static --disable-shared --disable-ogg --disable-cpplibs --disable-programs --disable-examples --disable-doxygen-docs --disable-dependency-tracking --prefix=/usr" ;;
    mpg123) echo "--enable-static --disable-shared --enable-modules=no --with-audio=dummy --disable-dependency-tracking --prefix=/usr" ;;
    libwebm) echo "-std=c++11 -D__STDC_CONSTANT_MACROS -D__STDC_FORMAT_MACROS -D__STDC_LIMIT_MACROS -Iwebm_parser -Iwebm_parser/include mkvparser/mkvparser.cc mkvparser/mkvreader.cc mkvmuxer/mkvmuxer.cc mkvmuxer/mkvmuxerutil.cc mkvmuxer/mkvwriter.cc webm_parser/src/*.cc" ;;
    libvorbis) echo "--enable-static --disable-shared --disable-docs --disable-examples --disable-oggtest --disable-dependency-tracking --prefix=/usr" ;;
    opusfile) echo "--enable-static --disable-shared --disable-http --disable-examples --disable-doc --disable-dependency-tracking --prefix=/usr" ;;
  esac
}

# Variables for make and make install, where a library's configure cannot
# narrow the build down (part of the stamp too). flac: its helper libraries
# for the programs and tests, and libFLAC a second time for the tests (the
# noinst libFLAC-static.la), took half of its build. mpg123: one Makefile for
# everything, so its lists are cut down to libmpg123; make still builds the
# internal libcompat it links in.
make_flags() {
  case "$1" in
    flac) echo "noinst_LTLIBRARIES= noinst_PROGRAMS=" ;;
    mpg123) echo "bin_PROGRAMS= lib_LTLIBRARIES=src/libmpg123/libmpg123.la noinst_LTLIBRARIES= pkglib_LTLIBRARIES= nodist_include_HEADERS=src/libmpg123/mpg123.h pkgconfig_DATA=libmpg123.pc dist_man_MANS=" ;;
  esac
}

# The types alsa-lib opens from its own list of built-in plugins. Built
# without libdl, alsa-lib opens a PCM type only if it is in that list (any
# other name it looks for as a shared library, which it cannot load), and it
# resolves a built-in's open function through the symbol table of the static
# build, where speakerd's addon registers its own (clock_sink.cc). Adding
# speakerd's type to the list is the one edit made to any library's source:
# with it, alsa-lib opens `type speakerd_clock` wherever a configuration
# names it, as the slave of its own plugins too (docs/decisions.md,
# "A PCM type of speakerd's own inside alsa-lib").
builtin_pcm_types() {
  case "$1" in
    alsa-lib) echo "speakerd_clock" ;;
  esac
}

# Adds builtin_pcm_types to pcm.c's build_in_pcms, and fails if it did not take.
add_builtin_pcm_types() {
  local name=$1 work=$2 type file="$2/src/src/pcm/pcm.c"
  for type in $(builtin_pcm_types "$name"); do
    sed -i "s/^static const char \*const build_in_pcms\[\] = {\$/&\n\t\"$type\",/" "$file"
    grep -q "^	\"$type\",\$" "$file" || { log "$name: cannot add $type to build_in_pcms in src/pcm/pcm.c"; return 1; }
  done
}

# Configure arguments that point a library at what it needs in deps/, one a
# line (not part of the stamp: they name this checkout's path). No pkg-config:
# the container's builder has none, and the .pc files in deps/ say /usr.
# opusfile takes the flags pkg-config would give. libvorbis falls back to
# --with-ogg without pkg-config; PKG_CONFIG= takes that route on every machine,
# so a system libogg can never be picked up instead.
dependency_args() {
  case "$1" in
    libvorbis) printf '%s\n' "PKG_CONFIG=" "--with-ogg=$deps/libogg" ;;
    opusfile) printf '%s\n' "DEPS_CFLAGS=-I$deps/libogg/include -I$deps/opus/include/opus" \
      "DEPS_LIBS=-L$deps/libogg/lib -L$deps/opus/lib -logg -lopus" ;;
  esac
}

# Per library being built: its work folder, verified source archive, version,
# stamp, and the pid of its build. Every work folder goes at exit, and so do
# apt's deb-src lists, fetched once per run.
declare -A works=() archives=() versions=() wants=() pids=() statuses=()
apt_dir=""
trap 'for w in "${works[@]}" "$apt_dir"; do [ -z "$w" ] || rm -rf "$w"; done' EXIT

log() { printf 'build-static-deps: %s\n' "$*" >&2; }

# A private copy of the system's apt sources with deb-src in place of deb, and
# its lists, in $apt_dir: made on the first call, for the whole run (an
# update takes about 2 s).
deb_src_lists() {
  [ -z "$apt_dir" ] || return 0
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
  apt_src update >&2
}
apt_src() {
  apt-get -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt_dir/sources" \
    -o "Dir::State::Lists=$apt_dir/lists" -o APT::Sandbox::User=root -qq "$@"
}

# Fetches Debian's source package of $1 into $2 through apt, using only the
# private deb-src lists.
fetch_debian_source() {
  local package=$1 into=$2
  deb_src_lists
  # apt-get fails as a whole when any file the .dsc lists is missing, and only
  # the .orig tarball is used: mpg123's upstream signature (.orig.tar.bz2.asc)
  # answers 404 from this machine's mirror. The caller checks the tarball.
  (cd "$into" && apt_src source --download-only "$package" >&2) \
    || log "$package: apt-get source failed for some file; carrying on if the .orig tarball came"
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
  # <NAME>_SHA256 replaces the pin for this build: how a user relinks the
  # addon against a modified library, as the LGPL provides
  # (docs/decisions.md, "Licences of the static libraries").
  local sha_var
  sha_var="$(echo "$name" | tr 'a-z-' 'A-Z_')_SHA256"
  if [ -n "${!sha_var:-}" ]; then
    log "$name: $sha_var replaces the pinned sha256 $sha"
    sha=${!sha_var}
  fi

  local prefix="$deps/$name" stamp="$deps/$name/.stamp"
  local want="$version $sha $(configure_flags "$name")"
  [ -z "$host" ] || want+=" host:$host"
  [ -z "$(make_flags "$name")" ] || want+=" $(make_flags "$name")"
  [ -z "$(builtin_pcm_types "$name")" ] || want+=" builtin:$(builtin_pcm_types "$name")"
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

# Second step: build one verified library and install it.
build_one() {
  local name=$1 work=${works[$1]} archive=${archives[$1]} version=${versions[$1]}
  local prefix="$deps/$name" stamp="$deps/$name/.stamp" started=$SECONDS
  mkdir -p "$work/src"
  tar -xf "$archive" -C "$work/src" --strip-components=1
  add_builtin_pcm_types "$name" "$work" || return 1
  if [ "$name" = libwebm ]; then
    build_libwebm "$work"
  else
    build_autotools "$name" "$work"
  fi || return 1

  # Keep only what the addon needs: the static library, headers and data files
  # (for alsa-lib: alsa.conf with its cards/ and pcm/ folders), not manuals
  # (speexdsp installs a PDF) nor autoconf macros.
  rm -rf "$prefix"
  mkdir -p "$prefix"
  cp -a "$work/dest/usr/include" "$work/dest/usr/lib" "$prefix/"
  [ -d "$work/dest/usr/share" ] && cp -a "$work/dest/usr/share" "$prefix/"
  rm -rf "$prefix"/lib/*.la "$prefix/share/doc" "$prefix/share/man" "$prefix/share/aclocal"
  rmdir "$prefix/share" 2>/dev/null || true  # when nothing else was in it
  echo "${wants[$name]}" >"$stamp"
  log "$name $version: installed in ${prefix#"$root/"} ($((SECONDS - started)) s)"
}

# configure, make and make install into $2/dest.
build_autotools() {
  local name=$1 work=$2 dependency
  mapfile -t dependency < <(dependency_args "$name")
  # shellcheck disable=SC2046
  (cd "$work/src" && CC=$cc CXX=$cxx CFLAGS="-O2 -fPIC" ./configure "${host_args[@]}" $(configure_flags "$name") "${dependency[@]}" >"$work/configure.log" 2>&1) \
    || { tail -30 "$work/configure.log" >&2; return 1; }
  # shellcheck disable=SC2046
  (cd "$work/src" && make -j"$jobs" $(make_flags "$name") >"$work/make.log" 2>&1) || { tail -30 "$work/make.log" >&2; return 1; }
  # shellcheck disable=SC2046
  (cd "$work/src" && make install DESTDIR="$work/dest" $(make_flags "$name") >"$work/install.log" 2>&1) \
    || { tail -30 "$work/install.log" >&2; return 1; }
}

# libwebm builds with CMake only, which neither setup.sh nor the container's
# builder installs, and its parsers and muxer are plain C++ files: compiled
# here, as upstream's CMakeLists.txt lists them, into one archive. The
# headers keep upstream's installed layout, so that "webm/webm_parser.h",
# "mkvparser/mkvparser.h" and "mkvmuxer/mkvmuxer.h" resolve (mkvmuxer.h
# includes common/webmids.h).
build_libwebm() (
  local work=$1 word cxxflags=() sources=()
  cd "$work/src"
  # Unquoted, so that webm_parser/src/*.cc expands, here in the sources.
  for word in $(configure_flags libwebm); do
    case $word in *.cc) sources+=("$word") ;; *) cxxflags+=("$word") ;; esac
  done
  # $jobs compilers at a time, a few sources each (29 at once only thrash);
  # g++ -c leaves each source's .o here, and their names do not clash.
  printf '%s\0' "${sources[@]}" | xargs -0 -n 4 -P "$jobs" "$cxx" -O2 -fPIC "${cxxflags[@]}" -I. -c \
    >"$work/make.log" 2>&1 || { tail -30 "$work/make.log" >&2; return 1; }
  mkdir -p "$work/dest/usr/lib" "$work/dest/usr/include"
  "$ar" rcs "$work/dest/usr/lib/libwebm.a" ./*.o
  cp --parents mkvparser/mkvparser.h mkvparser/mkvreader.h mkvmuxer/*.h common/webmids.h "$work/dest/usr/include/"
  cp -r webm_parser/include/webm "$work/dest/usr/include/"
)

# Waits for this run's build of $1, if it started one, and tells whether
# that build succeeded; as often as asked (bash reports a child's end once).
built() {
  local pid=${pids[$1]:-}
  [ -n "$pid" ] || return 0
  [ -n "${statuses[$1]:-}" ] || { wait "$pid" && statuses[$1]=0 || statuses[$1]=$?; }
  return "${statuses[$1]}"
}

main() {
  mkdir -p "$deps"
  local names=() entry name dep failed=0
  if [ $# -eq 0 ]; then
    for entry in "${pinned[@]}"; do names+=("${entry%%|*}"); done
  else
    for name in "$@"; do
      for dep in $(needs "$name") "$name"; do
        [[ " ${names[*]} " == *" $dep "* ]] || names+=("$dep")
      done
    done
  fi
  for name in "${names[@]}"; do prepare_one "$name"; done
  # As many builds at a time as cores, each with make -j$jobs: one's
  # configure, mostly waiting on forks, overlaps another's compiling.
  # alsa-lib and speexdsp together took about as long as alsa-lib alone (a
  # fresh setup on CI's 2 cores: 108 → 85 s), but more at once only thrash:
  # on 2 cores, the seven decoder libraries took 92 s one at a time, 66 s two
  # at a time and 106 s all at once (195, 143 and 162 s while other work held
  # a core, webm_parser included). A build takes a slot (a line) from a
  # pipe, and puts it back when it ends, however it ends. One built against
  # others queues for a slot once they are installed, not after a round.
  local fifo slots i
  fifo=$(mktemp -u)
  mkfifo "$fifo"
  exec {slots}<>"$fifo"
  rm "$fifo"
  for ((i = 0; i < jobs; i++)); do echo; done >&"$slots"
  for name in "${names[@]}"; do
    [ -n "${archives[$name]:-}" ] || continue  # cached
    for dep in $(needs "$name"); do
      built "$dep" || { log "$name: not built, as $dep failed"; failed=1; continue 2; }
    done
    (read -r -u "$slots"; trap 'echo >&"$slots"' EXIT; build_one "$name") &
    pids[$name]=$!
  done
  for name in "${!pids[@]}"; do built "$name" || failed=1; done
  [ ${#pids[@]} -eq 0 ] || log "libraries built: ${#pids[@]}, in $SECONDS s"
  return "$failed"
}

main "$@"
