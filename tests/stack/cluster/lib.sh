# shellcheck shell=bash disable=SC2034  # variables for the scripts that source it
# Shared by up, down, status, controller and smoke of the kwok + Argo cluster.
# Self-contained (only ../versions.env) so it can be used without the rest of the stack.
CLUSTER_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../versions.env
source "$CLUSTER_HERE/../versions.env"
STACK_CACHE="${STACK_CACHE:-/var/cache/xtask-stack}"
CLUSTER_NAME="${CLUSTER_NAME:-xtask}"
# Fixed, so kubeconfigs and notes stay valid across re-creations.
APISERVER_PORT="${CLUSTER_APISERVER_PORT:-16443}"
CLUSTER_USER=vcity-user
NODE_NAME=pagoda-kwok-0
# The Argo Server (argo-server): fixed, like the API server's port; ../lib.sh agrees.
ARGO_SERVER_PORT="${CLUSTER_ARGO_SERVER_PORT:-2746}"
# Where workflow pods pull Argo's executor image from (node/up pushes it there).
CLUSTER_REGISTRY="${CLUSTER_REGISTRY:-127.0.0.1:5443}"

KUBE_BIN=$STACK_CACHE/bin/kubernetes-$KUBERNETES_VERSION
ETCD_BIN=$STACK_CACHE/bin/etcd-$ETCD_VERSION
KWOK_BIN=$STACK_CACHE/bin/kwok-$KWOK_VERSION
ARGO_BIN=$STACK_CACHE/bin/argo-$ARGO_VERSION

csay() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
cdie() { csay "error: $*"; exit 1; }

# cluster_init STATE_DIR: sets the paths every script uses.
cluster_init() {
  [[ -n ${1:-} ]] || cdie "usage: $(basename "$0") STATE_DIR"
  STATE=$(realpath -m "$1")
  ADMIN_KUBECONFIG=$STATE/admin.kubeconfig
  USER_KUBECONFIG=$STATE/user.kubeconfig
  META=$STATE/cluster                     # rendered manifests, user key, config hash
  CTR_PID=$STATE/run/workflow-controller.pid
  CTR_LOG=$STATE/logs/workflow-controller.log
  AS_DIR=$STATE/argo-server              # its certificate, token, restart command
  AS_PID=$STATE/run/argo-server.pid
  AS_LOG=$STATE/logs/argo-server.log
  # The Argo Server listens on every interface (Argo has no bind-address flag): closed
  # to all but lo, as the kubelet's port is (node/lib.sh).
  ARGO_SERVER_FIREWALL=(INPUT ! -i lo -p tcp --dport "$ARGO_SERVER_PORT" -m comment --comment xtask-stack-argo-server -j DROP)
  # kwokctl keeps each cluster under $KWOK_WORKDIR/clusters/NAME: keep it in STATE.
  export KWOK_WORKDIR=$STATE/kwok
  WORKDIR=$KWOK_WORKDIR/clusters/$CLUSTER_NAME
  export PATH="$STATE/bin:$PATH"
  # ARGO_* variables of the caller (hera.bash) would become controller flags (viper).
  unset ARGO_NAMESPACE ARGO_SERVER ARGO_TOKEN ARGO_SERVICE_ACCOUNT ARGO_INSECURE_SKIP_VERIFY
}

kc() { "$KUBE_BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }
ku() { "$KUBE_BIN/kubectl" --kubeconfig "$USER_KUBECONFIG" "$@"; }

# alive PID: running, not a zombie (an exited process PID 1 has not reaped yet).
alive() { [[ -e /proc/$1/stat ]] && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }
pid_alive() { [[ -s $1 ]] && alive "$(cat "$1")"; }

# stop_pid FILE: stops the process recorded in FILE and waits for it to go.
stop_pid() {
  local file=$1 pid
  if ! pid_alive "$file"; then rm -f "$file"; return 0; fi
  pid=$(cat "$file")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do alive "$pid" || break; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$file"
}

# retry SECONDS WHAT CMD...: retries CMD until it succeeds, or dies.
retry() {
  local limit=$1 what=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || cdie "$what not ready after ${limit}s"
    sleep 0.5
  done
}

controller_healthy() { curl -sf -m 2 http://127.0.0.1:6060/healthz >/dev/null 2>&1; }

# The Argo Server answers over TLS with a certificate of the stack's CA. In client auth
# mode even /api/v1/version wants a token: 401 without one is an answer.
argo_server_healthy() {
  local code
  code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' --cacert "$STATE/tls/ca.crt" \
    "https://127.0.0.1:$ARGO_SERVER_PORT/api/v1/version" 2>/dev/null)
  [[ $code == 200 || $code == 401 ]]
}

# Pids kwokctl recorded for the cluster's processes (etcd, apiserver, ..., kwok); the
# files have no final newline.
kwok_pids() {
  local f
  for f in "$WORKDIR"/pids/*.pid; do [[ -s $f ]] && { cat "$f"; echo; }; done
  return 0
}

# wait_gone PID...: waits (10 s at most) until the processes have fully disappeared,
# zombies included, so that `pgrep` and kwokctl's own pid checks see them gone.
wait_gone() {
  local pid
  for pid in "$@"; do
    for _ in $(seq 50); do [[ -e /proc/$pid ]] || break; sleep 0.2; done
  done
}
