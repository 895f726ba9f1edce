#!/usr/bin/env bash
# Proves the Docker image works: builds the base image if it is missing (scripts/docker-base.sh, no registry
# needed) and the image (scripts/docker-build.sh), runs one embedded-mode container on the host network, and checks
#   /healthz answers 200, the console is served, the container runs compiled JavaScript (no tsx) as a non-root user,
#   an admin token (generated into the data directory) creates an API key, an API policy is applied,
#   POST /v1/enforce gives one ALLOW and one BLOCK (by that policy's rule),
#   Docker's HEALTHCHECK reports healthy, and `docker stop` ends Thoth cleanly (exit code 0 after its drain).
# The container is removed at the end, pass or fail. Exit code 0 only if every check passed.
#
#   bash scripts/docker-smoke.sh
#
# Environment:
#   THOTH_SMOKE_IMAGE    tag to build and run (default thoth:smoke)
#   THOTH_SMOKE_PORT     port on 127.0.0.1 (default: a free one)
#   THOTH_SMOKE_NO_BUILD=1  run an existing THOTH_SMOKE_IMAGE without building
#   NODE_IMAGE           base image (default: the Dockerfile's ARG NODE_IMAGE); built by docker-base.sh if absent
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
cd "$REPO_ROOT"

IMAGE=${THOTH_SMOKE_IMAGE:-thoth:smoke}
NAME="thoth-smoke-$$"
TENANT=smoke-corp
started=$(date +%s)

log() { echo "docker-smoke.sh [$(($(date +%s) - started))s]: $*"; }
fail() {
  echo "docker-smoke.sh: FAILED: $*" >&2
  exit 1
}
cleanup() {
  local rc=$?
  if docker container inspect "$NAME" >/dev/null 2>&1; then
    if ((rc != 0)); then
      echo "--- last 40 lines of the container's log ---" >&2
      docker logs --tail 40 "$NAME" >&2 2>&1 || true
    fi
    docker rm -f -v "$NAME" >/dev/null 2>&1 || true
  fi
  rm -f "${BODY:-}"
}
trap cleanup EXIT

command -v docker >/dev/null 2>&1 || fail "docker not found (apt-get install docker.io)"
command -v curl >/dev/null 2>&1 || fail "curl not found"
docker info >/dev/null 2>&1 || fail "no Docker engine answers (start one: dockerd >/tmp/dockerd.log 2>&1 &)"

# --- 0. The Dockerfile copies every workspace manifest (else `npm ci` fails in the image) ----------------------
for pattern in $(sed -n '/"workspaces"/,/]/p' package.json | grep -o '"[^"]*"' | tr -d '"' | grep -v '^workspaces$'); do
  for dir in $pattern; do
    [[ -f "$dir/package.json" ]] || continue
    grep -q "^COPY $dir/package.json $dir/\$" Dockerfile ||
      fail "the Dockerfile does not copy the workspace manifest $dir/package.json (add: COPY $dir/package.json $dir/)"
  done
done

# --- 1. Images ---------------------------------------------------------------------------------------------------
if [[ "${THOTH_SMOKE_NO_BUILD:-}" != 1 ]]; then
  base=${NODE_IMAGE:-$(sed -n 's/^ARG NODE_IMAGE=//p' Dockerfile | head -n 1)}
  if ! docker image inspect "$base" >/dev/null 2>&1; then
    log "base image $base is missing: building the stand-in (scripts/docker-base.sh)"
    NODE_IMAGE="$base" bash scripts/docker-base.sh || fail "scripts/docker-base.sh failed"
  fi
  log "building $IMAGE"
  build_log=$(mktemp /tmp/thoth-smoke-build.XXXXXX)
  if ! bash scripts/docker-build.sh -t "$IMAGE" --build-arg "NODE_IMAGE=$base" >"$build_log" 2>&1; then
    tail -n 40 "$build_log" >&2
    rm -f "$build_log"
    fail "the image build failed (last 40 lines above)"
  fi
  rm -f "$build_log"
  log "built $IMAGE ($(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
fi
docker image inspect "$IMAGE" >/dev/null 2>&1 || fail "no image $IMAGE"

# --- 2. Run ------------------------------------------------------------------------------------------------------
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
  else
    node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
  fi
}
PORT=${THOTH_SMOKE_PORT:-$(free_port)}
URL="http://127.0.0.1:$PORT"
# HOST=127.0.0.1: on the host network the API stays on loopback. The data directory is the image's volume.
# THOTH_METRICS_PORT=0: on the host network its /metrics listener must not meet a Thoth already on 9464.
docker run -d --name "$NAME" --network host -e PORT="$PORT" -e HOST=127.0.0.1 -e THOTH_METRICS_PORT=0 -e LOG_LEVEL=warn "$IMAGE" >/dev/null ||
  fail "docker run failed"
log "started container $NAME on $URL"

deadline=$(($(date +%s) + 120))
until curl -fsS -o /dev/null "$URL/healthz" 2>/dev/null; do
  [[ "$(docker inspect -f '{{.State.Running}}' "$NAME" 2>/dev/null)" == true ]] ||
    fail "the container exited (code $(docker inspect -f '{{.State.ExitCode}}' "$NAME")) before /healthz answered"
  (($(date +%s) < deadline)) || fail "GET /healthz did not answer 200 within 120 s"
  sleep 1
done
log "ok: GET /healthz 200"

summary=$(docker logs "$NAME" 2>&1)
grep -q "Thoth is running" <<<"$summary" || fail "the start-up summary ('Thoth is running') is not in the log"
grep -q "admin token" <<<"$summary" || fail "the start-up summary does not say where the admin token is"
log "ok: start-up summary printed ($(grep -m1 'mode ' <<<"$summary" | sed 's/^ *//'))"

uid=$(docker exec "$NAME" awk '/^Uid:/ {print $2}' /proc/1/status)
[[ -n "$uid" && "$uid" != 0 ]] || fail "Thoth (pid 1) runs as uid '${uid}', expected a non-root user"
log "ok: Thoth runs as uid $uid ($(docker exec "$NAME" id -un)), not root"

docker exec "$NAME" thoth --help >/dev/null 2>&1 || fail "the thoth CLI does not run in the container (thoth --help)"
cmd=$(docker exec "$NAME" sh -c 'tr "\0" " " </proc/1/cmdline')
[[ "$cmd" == *"services/thoth/dist/main.js"* && "$cmd" != *tsx* ]] || fail "pid 1 is '$cmd', expected node on the compiled services/thoth/dist/main.js"
docker exec "$NAME" test ! -e node_modules/tsx || fail "the image carries tsx: production runs compiled JavaScript only"
log "ok: pid 1 runs the compiled JavaScript ($cmd), no tsx in the image"
log "ok: the thoth CLI runs in the container"

code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/console/")
[[ "$code" == 200 ]] || fail "GET /console/ answered $code (is the console built into the image?)"
log "ok: GET /console/ 200"

# --- 3. Credentials, policy, decisions ---------------------------------------------------------------------------
ADMIN=$(docker exec "$NAME" sh -c 'cat "$THOTH_DATA_DIR/admin-token"') || fail "no admin token in the data directory"
[[ ${#ADMIN} -ge 16 ]] || fail "the admin token is too short (${#ADMIN} characters)"

BODY=$(mktemp /tmp/thoth-smoke-body.XXXXXX)
# call METHOD PATH TOKEN JSON -> the HTTP status; the response body is in $BODY
call() {
  curl -s -o "$BODY" -w '%{http_code}' -X "$1" "$URL$2" -H "Authorization: Bearer $3" \
    -H 'Content-Type: application/json' ${4:+-d "$4"}
}
field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" "$BODY"; }

status=$(call POST "/$TENANT/thoth/api-keys" "$ADMIN" '{"name":"docker-smoke","permissions":["execute","write","read"]}')
KEY=$(field api_key)
[[ "$status" == 201 || "$status" == 200 ]] && [[ -n "$KEY" ]] ||
  fail "creating an API key answered $status: $(head -c 300 "$BODY")"
log "ok: API key created with the admin token (HTTP $status)"

policy='{"policy":{"rules":[{"id":"smoke-payment-limit","condition":"tool == \"submit_payment\" && args.amount > 10000","effect":"BLOCK","reason":"payments above 10,000 are blocked","reason_code":"payment_limit"}]},"comment":"docker smoke"}'
status=$(call POST "/$TENANT/thoth/policies" "$ADMIN" "$policy")
[[ "$status" == 201 ]] || fail "applying the policy answered $status: $(head -c 300 "$BODY")"
log "ok: policy applied (HTTP 201, version $(sed -n 's/.*"version":\([0-9]*\).*/\1/p' "$BODY"))"

enforce() { # amount -> HTTP status; decision in $BODY
  call POST /v1/enforce "$KEY" "{\"agent_id\":\"docker-smoke\",\"tenant_id\":\"$TENANT\",\"tool_name\":\"submit_payment\",\"session_id\":\"smoke-1\",\"approved_scope\":[\"submit_payment\"],\"tool_args\":{\"invoice\":\"INV-001\",\"amount\":$1}}"
}
status=$(enforce 1500)
decision=$(field decision)
[[ "$status" == 200 && "$decision" == ALLOW ]] ||
  fail "a 1,500 payment: expected HTTP 200 ALLOW, got $status ${decision:-}: $(head -c 300 "$BODY")"
log "ok: POST /v1/enforce submit_payment 1500 -> ALLOW"

status=$(enforce 50000)
decision=$(field decision)
[[ "$status" == 200 && "$decision" == BLOCK ]] ||
  fail "a 50,000 payment: expected HTTP 200 BLOCK, got $status ${decision:-}: $(head -c 300 "$BODY")"
grep -q '"smoke-payment-limit"' "$BODY" || fail "the BLOCK does not name the rule smoke-payment-limit: $(head -c 300 "$BODY")"
log "ok: POST /v1/enforce submit_payment 50000 -> BLOCK (rule smoke-payment-limit, reason code $(field decision_reason_code))"

# --- 4. Docker's view: healthy; a clean stop --------------------------------------------------------------------
deadline=$(($(date +%s) + 90))
while :; do
  health=$(docker inspect -f '{{.State.Health.Status}}' "$NAME")
  [[ "$health" == healthy ]] && break
  [[ "$health" == unhealthy ]] && fail "Docker's HEALTHCHECK reports unhealthy"
  (($(date +%s) < deadline)) || fail "Docker's HEALTHCHECK still reports '$health' after 90 s"
  sleep 2
done
log "ok: HEALTHCHECK reports healthy"

docker stop -t 40 "$NAME" >/dev/null
exit_code=$(docker inspect -f '{{.State.ExitCode}}' "$NAME")
[[ "$exit_code" == 0 ]] || fail "after docker stop (SIGTERM) Thoth exited with code $exit_code, expected 0"
log "ok: docker stop -> exit code 0"
docker rm -v "$NAME" >/dev/null
log "PASSED ($IMAGE)"
