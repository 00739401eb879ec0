# video-thumbnailer container images. One application, two runtime targets:
#
#   functions (the default, last stage)  The Azure Functions host (Node.js v4 programming model) with
#       the app and Debian's ffmpeg: the seed's fix for `spawn ffprobe ENOENT`. For App Service,
#       Functions Premium and Kubernetes. The same image also runs the built-in worker:
#       `node /home/site/wwwroot/dist/hosts/cli/main.js worker`. linux/amd64 only: Microsoft
#       publishes the Functions base image for amd64 alone.
#   worker (--target worker)  The same app on the slim Node.js image, entry `thumbnailer worker`:
#       much smaller, no .NET host, and built for linux/amd64 and linux/arm64.
#
# Every install and build step is a script (scripts/image-build.sh, scripts/install-system-deps.sh),
# and scripts/image-local.sh builds the worker target of this very file with buildah and runs it, so
# a broken step fails CI. Base images are pinned to exact versions; docs/azure.md ("Base images")
# says how to check and refresh them, and how to add @sha256 digests.
#
# The bases are build arguments, so that a mirror or an offline base can stand in without a fork:
#   docker build --target worker --build-arg NODE_IMAGE=<registry>/node:22.23.2-bookworm-slim .
# Their defaults name two stages (node-image just below, functions-image before the functions
# stage) whose FROM lines carry the pins written out: Dependabot and scanners read FROM lines, not
# ARG defaults. BuildKit and buildah skip a stage the target does not use, so an overridden base is
# never pulled; the classic builder runs every stage before the target, hence that order.
ARG NODE_IMAGE=node-image
ARG FUNCTIONS_IMAGE=functions-image
FROM node:22.23.2-bookworm-slim AS node-image

# ---- build: compile, then keep production packages only ----------------------------------------
# No BuildKit-only syntax anywhere, so `az acr build` (the classic builder) builds it as well as
# `docker buildx build`. The dependency layer is cached apart from the sources.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts/image-build.sh scripts/
RUN bash scripts/image-build.sh deps
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/copy-assets.mjs scripts/
COPY src src
RUN bash scripts/image-build.sh app && bash scripts/image-build.sh check

# ---- worker: the built-in queue worker on the slim Node.js image ---------------------------------
FROM ${NODE_IMAGE} AS worker
COPY scripts/install-system-deps.sh /tmp/install-system-deps.sh
# ffmpeg from Debian (the same script CI runs), then the unprivileged user uid/gid 1000
# (the base image's `node` user holds that id: it makes way for `thumbnailer`).
RUN set -eu; \
    bash /tmp/install-system-deps.sh; \
    rm -f /tmp/install-system-deps.sh; \
    ffprobe -hide_banner -version >/dev/null; \
    if getent passwd 1000 >/dev/null; then userdel --remove "$(getent passwd 1000 | cut -d: -f1)"; fi; \
    if getent group 1000 >/dev/null; then groupdel "$(getent group 1000 | cut -d: -f1)"; fi; \
    groupadd --gid 1000 thumbnailer; \
    useradd --uid 1000 --gid 1000 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin thumbnailer
ENV NODE_ENV=production \
    THUMBNAILER_NO_NPM_FFMPEG=1 \
    THUMBNAILER_HOST=0.0.0.0 \
    THUMBNAILER_PORT=7071 \
    TMPDIR=/tmp
# The same layout as the Functions image, so one workingDir serves both (src/deploy/manifests.ts).
# Root owns the application; the user can read it, not change it.
WORKDIR /home/site/wwwroot
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY host.json ./host.json
RUN node dist/hosts/cli/main.js --version >/dev/null
USER 1000:1000
EXPOSE 7071
# The worker's health server (THUMBNAILER_PORT): liveness at /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.THUMBNAILER_PORT||7071)+'/healthz').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/home/site/wwwroot/dist/hosts/cli/main.js"]
CMD ["worker"]

# ---- functions: the Azure Functions host with the app (default target) ----------------------------
FROM mcr.microsoft.com/azure-functions/node:4.1054.250-4-node22 AS functions-image
FROM ${FUNCTIONS_IMAGE} AS functions
COPY scripts/install-system-deps.sh /tmp/install-system-deps.sh
# ffmpeg from Debian (the same script CI runs); the unprivileged user; and the one folder outside
# /tmp the host writes to: its secrets folder, where the secrets provider keeps its sentinel files
# (and the keys themselves with AzureWebJobsSecretStorageType=files).
RUN set -eu; \
    bash /tmp/install-system-deps.sh; \
    rm -f /tmp/install-system-deps.sh; \
    ffprobe -hide_banner -version >/dev/null; \
    if getent passwd 1000 >/dev/null; then userdel "$(getent passwd 1000 | cut -d: -f1)"; fi; \
    if getent group 1000 >/dev/null; then groupdel "$(getent group 1000 | cut -d: -f1)"; fi; \
    groupadd --gid 1000 thumbnailer; \
    useradd --uid 1000 --gid 1000 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin thumbnailer; \
    mkdir -p /azure-functions-host/Secrets; \
    chown 1000:1000 /azure-functions-host/Secrets
# ASPNETCORE_URLS: a non-privileged port (the base image listens on 80, which needs root).
# THUMBNAIL_QUEUE: the trigger's %THUMBNAIL_QUEUE% must resolve to an app setting; this is the
# product's default, overridden by the app's own setting.
ENV AzureWebJobsScriptRoot=/home/site/wwwroot \
    AzureFunctionsJobHost__Logging__Console__IsEnabled=true \
    FUNCTIONS_WORKER_RUNTIME=node \
    ASPNETCORE_URLS=http://+:8080 \
    NODE_ENV=production \
    THUMBNAILER_NO_NPM_FFMPEG=1 \
    THUMBNAIL_QUEUE=thumbnail-requests \
    TMPDIR=/tmp
WORKDIR /home/site/wwwroot
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY host.json ./host.json
RUN node dist/hosts/cli/main.js --version >/dev/null
USER 1000:1000
EXPOSE 8080
# /admin/host/ping answers without a key once the host runs.
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:8080/admin/host/ping').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# The base image's CMD starts the host (/opt/startup/start_nonappservice.sh).
