#!/usr/bin/env bash
# Builds speakerd's image for linux/amd64 and linux/arm64 from the one
# Dockerfile and publishes them as one multi-arch manifest list: REF-amd64
# and REF-arm64, then REF, which names both. A node pulls REF and gets its
# own architecture's image.
#
# Usage: scripts/docker-multiarch.sh REGISTRY/REPOSITORY:TAG [DOCKER BUILD ARGS...]
#   e.g. scripts/docker-multiarch.sh registry.example:5000/speakerd:0.1.0 --network host
# DOCKER (default docker) and DOCKER_HOST select the engine. A registry on
# loopback (127.x, localhost) is spoken to in plain HTTP, as `docker push`
# does by default; INSECURE=1 asks the same of `docker manifest` elsewhere.
#
# No buildx: Debian's Docker Engine (20.10) has BuildKit but not the buildx
# plugin, so each architecture is one `docker build --platform`, and
# `docker manifest` joins them. The builder stage runs on the engine's own
# architecture and cross-compiles; the runtime stage of the other one runs
# its two RUN steps under qemu-user, which binfmt_misc must have registered
# with the F flag (Debian's qemu-user-static does). Where buildx is at hand,
#   docker buildx build --platform linux/amd64,linux/arm64 -t REF --push .
# does the same in one command.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
docker=${DOCKER:-docker}
ref=${1:?usage: scripts/docker-multiarch.sh REGISTRY/REPOSITORY:TAG [DOCKER BUILD ARGS...]}
shift
insecure=()
case $ref in 127.*|localhost[:/]*) insecure=(--insecure) ;; esac
[ "${INSECURE:-}" = 1 ] && insecure=(--insecure)

log() { printf 'docker-multiarch: %s\n' "$*" >&2; }

for arch in amd64 arm64; do
  started=$SECONDS
  DOCKER_BUILDKIT=1 "$docker" build --platform "linux/$arch" "$@" -t "$ref-$arch" "$root" >&2
  "$docker" push -q "$ref-$arch" >/dev/null
  log "$ref-$arch: built and pushed in $((SECONDS - started)) s"
done
"$docker" manifest rm "$ref" >/dev/null 2>&1 || true
"$docker" manifest create "${insecure[@]}" "$ref" "$ref-amd64" "$ref-arm64" >/dev/null
"$docker" manifest push "${insecure[@]}" --purge "$ref" >/dev/null
log "$ref: $("$docker" manifest inspect "${insecure[@]}" "$ref" | node -e '
  const list = JSON.parse(require("fs").readFileSync(0, "utf8"));
  console.log(list.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`).join(" and "));')"
