#!/usr/bin/env bash
# Builds the Thoth image from the repo root's Dockerfile with BuildKit, the host network, and this machine's npm
# settings, so `npm ci` inside the build reaches the registry the way the host's npm does.
#
#   bash scripts/docker-build.sh [docker build options…]      # default tag: thoth:local
#   bash scripts/docker-build.sh -t thoth:dev --build-arg NODE_IMAGE=node:24-trixie-slim
#
# The host's npm settings reach only the `npm ci` steps, as BuildKit secrets (never in a layer or the history):
#   npmrc   the user's ~/.npmrc (auth tokens, scoped registries) without host paths, plus the effective
#           registry, proxy, https-proxy, noproxy and strict-ssl
#   npm_ca  the file of npm's `cafile` setting (a TLS-intercepting proxy's CA), when one is set
# HTTP_PROXY/HTTPS_PROXY/NO_PROXY from the environment go in as Docker's predefined proxy build args.
#
# BuildKit: `docker buildx build --load` when the buildx plugin is installed (Docker >= 23 needs it for BuildKit).
# Otherwise a Docker 20.10 client (Debian bookworm's docker.io: /usr/bin/docker) with DOCKER_BUILDKIT=1, whose
# built-in BuildKit needs no plugin. The Dockerfile has no `# syntax=` line, so no frontend image is pulled.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

log() { echo "docker-build.sh: $*"; }
die() {
  echo "docker-build.sh: $*" >&2
  exit 1
}

# --- which client builds with BuildKit ------------------------------------------------------------------------
build_cmd=()
if docker buildx version >/dev/null 2>&1; then
  build_cmd=(docker buildx build --load)
else
  for client in $(type -ap docker) /usr/bin/docker; do
    [[ -x "$client" ]] || continue
    major=$("$client" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1 || true)
    if [[ "$major" =~ ^[0-9]+$ ]] && ((major >= 18 && major < 23)); then
      build_cmd=(env DOCKER_BUILDKIT=1 "$client" build)
      break
    fi
  done
fi
((${#build_cmd[@]})) ||
  die "no BuildKit-capable client: install the buildx plugin, or Debian's docker.io (Docker 20.10, /usr/bin/docker)"

# --- the host's npm settings as secrets -------------------------------------------------------------------------
SECRETS=$(mktemp -d /tmp/thoth-docker-build.XXXXXX)
trap 'rm -rf "$SECRETS"' EXIT
chmod 700 "$SECRETS"
npmrc="$SECRETS/npmrc"
: >"$npmrc"
secret_args=()
if command -v npm >/dev/null 2>&1; then
  user_rc=$(npm config get userconfig 2>/dev/null || echo "$HOME/.npmrc")
  # Host paths mean nothing inside the build; registry/proxy lines are re-added below from the effective config.
  if [[ -f "$user_rc" ]]; then
    grep -v -E '^[[:space:]]*(cafile|nodedir|prefix|cache|globalconfig|userconfig|registry|proxy|https-proxy|noproxy|strict-ssl)[[:space:]]*=' \
      "$user_rc" >>"$npmrc" || true
  fi
  for key in registry proxy https-proxy noproxy strict-ssl; do
    value=$(npm config get "$key" 2>/dev/null || true)
    [[ -n "$value" && "$value" != "null" && "$value" != "undefined" ]] && echo "$key=$value" >>"$npmrc"
  done
  cafile=$(npm config get cafile 2>/dev/null || true)
  if [[ -n "$cafile" && "$cafile" != "null" && "$cafile" != "undefined" && -f "$cafile" ]]; then
    cp "$cafile" "$SECRETS/npm_ca"
    echo "cafile=/run/secrets/npm_ca" >>"$npmrc"
    secret_args+=(--secret "id=npm_ca,src=$SECRETS/npm_ca")
  fi
fi
secret_args+=(--secret "id=npmrc,src=$npmrc")

proxy_args=()
for var in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
  [[ -n "${!var:-}" ]] && proxy_args+=(--build-arg "$var")
done

has_tag=0
for arg in "$@"; do [[ "$arg" == -t || "$arg" == --tag || "$arg" == --tag=* || "$arg" == -t* ]] && has_tag=1; done
tag_args=()
((has_tag)) || tag_args=(-t thoth:local)

secret_ids=$(printf '%s\n' "${secret_args[@]}" | sed -n 's/^id=\([^,]*\),.*/\1/p' | paste -sd, -)
log "${build_cmd[*]} --network host ${tag_args[*]} $* (npm settings as BuildKit secrets: $secret_ids)"
cd "$REPO_ROOT"
"${build_cmd[@]}" --network host --progress plain "${secret_args[@]}" "${proxy_args[@]}" "${tag_args[@]}" "$@" .
