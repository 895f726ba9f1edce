# syntax=docker/dockerfile:1
#
# Thoth image for the distributed shape (see docker-compose.yml). One image for every role: THOTH_SERVICES
# picks what a container runs (`api`, `audit-writer`, …). No build step: TypeScript runs through tsx.
#
#   docker build -t thoth .
#
# The native chDB binding (@chdb/lib-linux-x64-gnu) is loaded when the store module is imported, even in
# distributed mode, and package-lock.json only records its linux-x64 build. Build and run this image as
# linux/amd64 (docker-compose.yml pins `platform: linux/amd64`; by hand: `docker build --platform linux/amd64`).

ARG NODE_IMAGE=node:20-bookworm-slim

# --- deps: node_modules, from the lockfile alone ------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app

# Manifests first, so this layer stays cached until a dependency changes. Every npm workspace
# (`services/*`) needs its package.json here, or `npm ci` finds the lockfile out of sync:
# add a line when a workspace is added.
COPY package.json package-lock.json ./
COPY services/api/package.json services/api/
COPY services/audit-writer/package.json services/audit-writer/
COPY services/common/package.json services/common/
COPY services/thoth/package.json services/thoth/

# tsx runs the service, and it is a root devDependency, so this is a full `npm ci`. Dev dependencies
# included: the simplest correct choice, and tsx stays at the version the lockfile pins (~200 MB more
# than --omit=dev). `npm ci --omit=dev` followed by `npm install --no-save tsx@4` does NOT work: because tsx
# is declared as a dev dependency, that install either brings back every devDependency (without
# --omit=dev) or leaves tsx out (with it). Moving tsx to the root "dependencies" would allow
# `npm ci --omit=dev` here.
# The image's npm (10.x, bundled with Node 20) accepts the current lockfile. npm 11 rejects it, because it
# lacks other platforms' optional packages (@biomejs/cli-*).
RUN npm ci --no-audit --no-fund && npm cache clean --force

# --- runtime -------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app

# Defaults for the distributed shape. Every variable is in services/common/src/config.ts.
ENV THOTH_MODE=distributed \
    HOST=0.0.0.0 \
    PORT=8080 \
    THOTH_DATA_DIR=/var/lib/thoth

# Code and dependencies stay owned by root and read-only to the service user. Only the data directory
# (where the receipt-signing key lives) belongs to the service user. docker-compose.yml mounts a named
# volume there, and Docker copies this ownership into a new volume.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY services/ ./services/
COPY schemas/ ./schemas/
RUN mkdir -p /var/lib/thoth && chown node:node /var/lib/thoth

# Non-root: the `node` user (uid 1000) comes with the official image.
USER node

EXPOSE 8080

# GET /healthz on the api (200 once migrations ran and consumers are subscribed), through Node's global fetch,
# so the slim image needs no curl or wget. It follows PORT if that is overridden. A container that runs no api
# (THOTH_SERVICES=audit-writer) serves no HTTP. docker-compose.yml disables the check there.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# tsx as a loader inside a single node process, so `docker stop`'s SIGTERM reaches Thoth, which drains and
# stops (up to 30 s). `npx tsx …` would not work: npm runs tsx through `sh -c`, and a SIGTERM to npm ends
# npm and that shell, not Thoth. The engine then SIGKILLs Thoth without a drain. --max-semi-space-size: as in
# `npm start` (docs/performance.md).
CMD ["node", "--max-semi-space-size=64", "--import", "tsx", "services/thoth/src/main.ts"]
