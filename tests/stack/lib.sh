# Shared helpers and paths of the local stack; sourced by up, down, status and env.
# Everything lives under $STACK_DIR (outside the repo) so a clean clone finds it warm.
STACK_DIR="${STACK_DIR:-/var/tmp/xtask-stack}"
STACK_CACHE="${STACK_CACHE:-/var/cache/xtask-stack}"
STACK_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$STACK_HERE/versions.env"

REGISTRY_PORT=5443       # the cluster registry as clients see it: Harbor-like (harbor/)
REGISTRY_BACKEND_PORT=5444  # distribution behind it, plain HTTP, token auth
UPSTREAM_PORT=5001       # plain-HTTP stand-in for Docker Hub, for mirroring tests
HARBOR_SERVICE=harbor-registry
ARGO_SERVER_PORT=2746    # the Argo Server, TLS, client auth mode (cluster/argo-server)
# The registry's accounts (tests/stack/harbor): the project robot that pushes, a
# pull-only robot, a user with no right on vcity, the robot of a project with a 1 MiB
# quota, and a robot whose tokens wear out after a few requests. Robot names hold a `$`.
# The push robot also holds the node's own images (projects argoproj and stack: Argo's
# executor and the base image pods run), which on PaGoDA come from elsewhere, and the
# two projects `cargo bench-xtask images` pushes to (ours and docker's), and `shared`,
# where a test counts what a push of images on a common base uploads.
REGISTRY_USER='robot$vcity+ci'
HARBOR_ACCOUNTS=(
  'push|robot$vcity+ci|vcity = ["pull", "push", "delete"], argoproj = ["pull", "push"], stack = ["pull", "push"], bench = ["pull", "push"], bench-docker = ["pull", "push"], shared = ["pull", "push"]|'
  'pull|robot$vcity+pull|vcity = ["pull"]|'
  'outsider|outsider|sandbox = ["pull", "push"]|'
  'quota|robot$small+ci|small = ["pull", "push"]|'
  'short|robot$vcity+short|vcity = ["pull", "push"]|token_uses = 4'
)
BASE_IMAGE=stack/busybox:1
# BASE_IMAGE with zstd (tests/stack/node/up): a helper image that is not busybox-only.
TOOLS_IMAGE=stack/tools:1

say() { printf '[stack %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# pid_alive FILE: the process recorded in FILE is running.
pid_alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pid FILE: stops the process recorded in FILE and waits for it to go.
stop_pid() {
  local file=$1 pid
  pid_alive "$file" || { rm -f "$file"; return 0; }
  pid=$(cat "$file")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$file"
}

# wait_for SECONDS WHAT CMD...: retries CMD until it succeeds.
wait_for() {
  local limit=$1 what=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what not ready after ${limit}s"
    sleep 0.3
  done
}

# registry_token USER PASSWORD_FILE SCOPE: a token from the cluster registry's token
# service, as a client gets one before talking to /v2/ (Harbor's flow).
registry_token() {
  curl -sf --cacert "$STACK_DIR/tls/ca.crt" -u "$1:$(cat "$2")" -G \
    --data-urlencode "service=$HARBOR_SERVICE" --data-urlencode "scope=$3" \
    "https://127.0.0.1:$REGISTRY_PORT/service/token" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}
