# speakerd's container image. Two stages:
#   builder  Debian bookworm with Node, on the machine's own platform: builds
#            static alsa-lib, speexdsp and the audio decoders from Debian's
#            source packages (scripts/build-static-deps.sh, the same route as
#            a local build), the addon, and the TypeScript, then drops the dev
#            dependencies. For another architecture it cross-compiles with
#            Debian's cross compilers: no compiler runs under emulation.
#   runtime  Node slim: the compiled service, its production dependencies,
#            alsa-lib's configuration files and the third-party notices. No
#            compiler, no libasound2 (alsa-lib is inside the addon), runs as
#            uid 10001.
#
#   docker build -t speakerd:0.1.0 .
#   docker build --platform linux/arm64 -t speakerd:0.1.0-arm64 .
# linux/amd64 and linux/arm64 are built and tested (scripts/docker-multiarch.sh
# makes both and one manifest list of them). For the other platform, the
# runtime stage's two RUN steps need qemu-user registered with binfmt_misc.
# Behind a TLS-intercepting proxy, hand the builder its CA bundle as a build
# secret, which never lands in a layer:
#   DOCKER_BUILDKIT=1 docker build --secret id=build-ca,src=/etc/ssl/certs/ca-certificates.crt -t speakerd:0.1.0 .

ARG NODE_VERSION=24.21.0
# Only read by scripts/docker-base-image.sh, which assembles the base image on
# machines that reach no registry; it is the npm the official image carries.
ARG NPM_VERSION=11.21.2

FROM --platform=$BUILDPLATFORM node:${NODE_VERSION}-bookworm-slim AS builder
ARG BUILDARCH
ARG TARGETARCH
ENV DEBIAN_FRONTEND=noninteractive
# g++/make/python3: node-gyp. bzip2, xz-utils: the C libraries' tarballs
# (alsa-lib and mpg123 come as .bz2; libogg, flac and libwebm as .xz).
# ca-certificates: npm and apt over TLS. For another architecture, its GNU
# triplet's g++ (with binutils and the target's libc headers), and the
# triplet in /src/.cross, which the C and addon builds below read.
WORKDIR /src
RUN case "$TARGETARCH" in \
      amd64) triplet=x86_64-linux-gnu ;; \
      arm64) triplet=aarch64-linux-gnu ;; \
      *) echo "speakerd builds for linux/amd64 and linux/arm64, not $TARGETARCH" >&2; exit 1 ;; \
    esac \
 && cross= && if [ "$TARGETARCH" != "$BUILDARCH" ]; then cross="g++-$(echo "$triplet" | tr _ -)"; echo "$triplet" >.cross; fi \
 && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends g++ make python3 bzip2 xz-utils ca-certificates $cross >/dev/null \
 && rm -rf /var/lib/apt/lists/*

# The C libraries first: they change least, so their layer survives edits to
# the service.
COPY scripts/build-static-deps.sh scripts/
RUN STATIC_DEPS_HOST=$(cat .cross 2>/dev/null || true) bash scripts/build-static-deps.sh

COPY package.json package-lock.json ./
# --ignore-scripts: the project's own install/prepare scripts need the sources,
# which come later; no dependency needs a script of its own.
RUN --mount=type=secret,id=build-ca \
    if [ -s /run/secrets/build-ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/build-ca npm_config_cafile=/run/secrets/build-ca; fi \
 && npm ci --ignore-scripts --no-audit --no-fund

COPY binding.gyp tsconfig.json ./
COPY scripts/bundle.mjs scripts/
COPY native/src native/src
COPY src src
# nodedir: the headers the Node image carries, instead of a download; they
# are the same for every architecture, and --arch names the target in Node's
# words (x64, arm64).
# dist/cli.js carries the packages the service loads (scripts/bundle.mjs);
# node_modules stays for what the bundle leaves out (@grpc/grpc-js) and for
# the rest of dist/. Both are CommonJS, so only the packages' CommonJS builds
# ever load: the ESM builds, type declarations and source maps beside them
# (half of the OpenTelemetry packages' size) stay out of the image, and so
# do dist's own source maps (only node --enable-source-maps reads them).
# The addon's static symbol table goes too (strip --strip-unneeded: the
# dynamic symbols N-API needs stay): 0.5 MB of the codecs' local names. So
# does tsc's per-module output beside the bundle, which only the package's
# library entry and the tests load, never the image, and node-addon-api
# (0.4 MB of C++ headers the addon was compiled with, nothing run).
RUN if [ -f .cross ]; then export CC="$(cat .cross)-gcc" CXX="$(cat .cross)-g++" STRIP="$(cat .cross)-strip"; fi \
 && npx node-gyp rebuild -j max --nodedir=/usr/local --arch="$(echo "$TARGETARCH" | sed s/amd64/x64/)" \
 && ${STRIP:-strip} --strip-unneeded build/Release/speakerd.node \
 && npm run build \
 && find dist -type f -name '*.js' ! -name cli.js -delete \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf node_modules/node-addon-api \
 && find node_modules -path '*/build/*' -type d \( -name esm -o -name esnext \) -prune -exec rm -rf {} + \
 && find node_modules dist -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \) -delete

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=builder /src/package.json ./
COPY --from=builder /src/node_modules node_modules
COPY --from=builder /src/dist dist
COPY --from=builder /src/build/Release/speakerd.node build/Release/speakerd.node
# alsa.conf with its cards/ and pcm/ folders: the addon points alsa-lib here.
COPY --from=builder /src/deps/alsa-lib/share deps/alsa-lib/share
# The licences of the libraries linked into the addon, which ships with them.
COPY THIRD_PARTY_NOTICES ./
# Node's compile cache: V8's code for dist/cli.js, made at build time and
# read by every start and every HEALTHCHECK, which then skip parsing the
# 2.6 MB bundle (docs/decisions.md, "Container image"). Node keeps one per
# uid, so it is made below by the uid that runs the service.
ENV NODE_COMPILE_CACHE=/app/.compile-cache
RUN mkdir .compile-cache && chown 10001:10001 .compile-cache

# The same uid and gid as the Kubernetes manifest. No passwd entry is needed:
# nothing looks the user up. The audio group comes from supplementalGroups
# (--group-add), because its number differs between distributions.
USER 10001:10001
# Loading the bundle once fills the cache. With the read-only root at run
# time, Node finds it current and writes nothing.
RUN node dist/cli.js --help >/dev/null
EXPOSE 8080
# Node is PID 1: speakerd handles SIGTERM and SIGINT itself (a graceful drain
# within SHUTDOWN_GRACE_MS) and starts no child processes, so no init is needed.
STOPSIGNAL SIGTERM
# Probes /healthz on the configured HOST and PORT with Node itself: the image
# has no curl. Kubernetes ignores this and uses the manifest's probes.
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
  CMD ["node", "dist/cli.js", "healthcheck"]
ENTRYPOINT ["node", "--max-semi-space-size=1", "dist/cli.js"]
CMD ["serve"]
