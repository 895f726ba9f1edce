# Thoth image. One image for both shapes and every role:
#   docker run -p 8080:8080 thoth:local          embedded (the default): one process, in-process bus, chDB store
#   THOTH_MODE=distributed + THOTH_SERVICES=…     distributed roles (`api`, `audit-writer`, …; docker-compose.yml)
#
# Build (BuildKit is required: RUN --mount):
#   bash scripts/docker-build.sh                   passes this machine's npm settings (registry, proxy CA) as secrets
#   docker buildx build --load -t thoth:local .    elsewhere (Docker 20.10 without buildx: DOCKER_BUILDKIT=1 docker build)
# Without a container registry, `bash scripts/docker-base.sh` first builds a local stand-in for NODE_IMAGE.
# Proof it works: `bash scripts/docker-smoke.sh` (base, build, run, /healthz, an ALLOW and a BLOCK, non-root, healthy).
#
# No `# syntax=docker/dockerfile:1` line on purpose: it makes BuildKit pull the frontend image from Docker Hub.
# The frontend built into Docker >= 20.10 already knows RUN --mount (secret, cache).
#
# Platform: package-lock.json records only the linux-x64 builds of esbuild (tsx, vite) and chDB, so build and run
# as linux/amd64 (docker-compose.yml pins `platform: linux/amd64`; by hand: `--platform linux/amd64`).

ARG NODE_IMAGE=node:24-bookworm-slim
# embedded (default): runs either mode; carries chDB's native library (@chdb/lib-linux-x64-gnu, ~540 MB).
# distributed: THOTH_MODE=distributed only (Kafka + a ClickHouse server), without chDB's native library.
ARG THOTH_IMAGE_SHAPE=embedded

# --- manifests: the lockfile and every npm workspace's package.json -------------------------------------------
# Every workspace of the root package.json's "workspaces" (services/*, sdk/typescript, console) must be listed,
# or `npm ci` finds the lockfile out of sync: add a line when a workspace is added (scripts/docker-smoke.sh checks).
FROM ${NODE_IMAGE} AS manifests
WORKDIR /app
COPY package.json package-lock.json ./
COPY services/api/package.json services/api/
COPY services/audit-writer/package.json services/audit-writer/
COPY services/baselines/package.json services/baselines/
COPY services/contracts/package.json services/contracts/
COPY services/platform/package.json services/platform/
COPY services/mcp-proxy/package.json services/mcp-proxy/
COPY services/notifier/package.json services/notifier/
COPY services/siem-export/package.json services/siem-export/
COPY services/thoth/package.json services/thoth/
COPY sdk/typescript/package.json sdk/typescript/
COPY console/package.json console/

# --- build: every dependency (dev included), then the console ------------------------------------------------
# --ignore-scripts: the root `prepare` (`npm run build`: the services, then the console) would run before the
# sources are here; it is run explicitly below. No dependency needs its install script (chDB's is a no-op, esbuild's only
# checks the binary its optional dependency installed).
# The secrets are the host's npm settings (scripts/docker-build.sh); absent, npm uses its defaults.
FROM manifests AS build
RUN --mount=type=secret,id=npmrc,target=/root/.npmrc \
    --mount=type=secret,id=npm_ca,target=/run/secrets/npm_ca \
    --mount=type=cache,target=/root/.npm,sharing=shared \
    npm ci --ignore-scripts --no-audit --no-fund
# Every package compiled to its dist/ (`tsc -b`), then the console (Vite): `npm run build`, as `npm ci` runs it
# through `prepare` on a fresh clone.
COPY tsconfig.json tsconfig.build.json tsconfig.build-base.json ./
COPY console/ console/
COPY schemas/ schemas/
COPY services/ services/
# The runtime takes services/ from here: only what runs (each package's package.json and dist/, the CLI's bin/).
RUN npm run build \
    && rm -rf services/*/src services/*/tsconfig.build.json \
    && find services -name '*.tsbuildinfo' -delete

# --- deps: what the service needs at run time -----------------------------------------------------------------
# No dev dependencies (vitest, TypeScript, tsx, Biome, testcontainers, the MCP test servers) and not the console's
# build chain (Vite, React, Playwright): only the services' workspaces. The image runs compiled JavaScript.
# tsx (and its esbuild) are in the lockfile as "devOptional" (an optional peer of the console's Vite), which
# --omit=dev keeps: they are removed (scripts/docker-smoke.sh checks that tsx is absent).
FROM manifests AS deps
RUN --mount=type=secret,id=npmrc,target=/root/.npmrc \
    --mount=type=secret,id=npm_ca,target=/run/secrets/npm_ca \
    --mount=type=cache,target=/root/.npm,sharing=shared \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund --include-workspace-root \
      --workspace services/api --workspace services/audit-writer --workspace services/baselines \
      --workspace services/contracts --workspace services/platform --workspace services/mcp-proxy --workspace services/notifier \
      --workspace services/siem-export --workspace services/thoth \
    && rm -rf node_modules/tsx node_modules/.bin/tsx node_modules/esbuild node_modules/@esbuild node_modules/.bin/esbuild

FROM deps AS deps-embedded

# chDB's native library only loads when the embedded store opens, so a distributed image can leave it out: if the
# store module still imports chDB at load time, the build stops here rather than ship an image that cannot start.
FROM deps AS deps-distributed
RUN --mount=type=bind,source=services/platform/src/store/store.ts,target=/tmp/store.ts \
    if grep -E "^import .* from 'chdb(/[a-z]+)?';" /tmp/store.ts | grep -qv '^import type '; then \
      echo "THOTH_IMAGE_SHAPE=distributed needs services/platform/src/store/store.ts to import chdb lazily (await import('chdb/connection') in Store.open)" >&2; \
      exit 1; \
    fi \
    && rm -rf node_modules/@chdb

FROM deps-${THOTH_IMAGE_SHAPE} AS deps-selected

# --- runtime ----------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ARG THOTH_IMAGE_SHAPE
WORKDIR /app

# The mode follows the image's shape. Embedded by default: a single `docker run` is a working Thoth (admin token
# generated into THOTH_DATA_DIR and printed at start). docker-compose.yml sets THOTH_MODE=distributed itself.
# Every variable: services/platform/src/config.ts.
ENV NODE_ENV=production \
    THOTH_MODE=${THOTH_IMAGE_SHAPE} \
    HOST=0.0.0.0 \
    PORT=8080 \
    THOTH_DATA_DIR=/var/lib/thoth

# Code and dependencies stay owned by root and read-only to the service user. Only the data directory (embedded
# bus log, chDB data, admin token, signing key) belongs to the service user: mount a volume there to keep it
# (`-v thoth-data:/var/lib/thoth`; a new named volume copies this ownership).
COPY --from=deps-selected /app/node_modules ./node_modules
COPY --from=build /app/console/dist ./console/dist
COPY --from=build /app/package.json ./
COPY --from=build /app/schemas ./schemas
COPY --from=build /app/services ./services
# The `thoth` CLI on PATH (`docker exec <container> thoth --help`): npm links workspace bins only on a full install.
RUN mkdir -p /var/lib/thoth && chown node:node /var/lib/thoth \
    && printf '#!/bin/sh\nexec node /app/services/thoth/bin/thoth.mjs "$@"\n' >/usr/local/bin/thoth \
    && chmod 755 /usr/local/bin/thoth

# Non-root: the `node` user (uid 1000) of the official image (scripts/docker-base.sh creates it the same way).
USER node
# The API, and every process's GET /metrics (THOTH_METRICS_PORT, docs/metrics.md).
EXPOSE 8080 9464

# GET /healthz (200 once migrations ran and consumers are subscribed) through Node's fetch: the slim image has no
# curl or wget. It follows PORT. A container that runs no api (THOTH_SERVICES=audit-writer) answers it on its
# metrics port instead: docker-compose.yml checks that one there.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# One node process (no npm, no shell), so `docker stop`'s SIGTERM reaches Thoth, which drains (up to 30 s).
# The same entry as `npm start`: the compiled JavaScript.
CMD ["node", "--max-semi-space-size=16", "services/thoth/dist/main.js"]
