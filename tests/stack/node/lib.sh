# shellcheck shell=bash disable=SC2034  # variables for the scripts that source it
# Shared by the real node's up, down and status: a kubelet with Debian's containerd and
# runc, joined to the stack's cluster, all of it under STATE_DIR/node.
source "$(dirname "${BASH_SOURCE[0]}")/../cluster/lib.sh"
NODE_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

REAL_NODE=pagoda-real-0
# The label and taint kwok's node carries while the real node exists: pods go to the
# real node unless they are marked for the simulator (see pod-routing.yaml).
KWOK_TAINT=xtask.dev/simulated
KUBELET_PORT=10250
KUBELET_HEALTHZ_PORT=10248
SANDBOX_IMAGE=stack.local/pause:1
EXECUTOR_IMAGE_REPO=argoproj/argoexec

# node_init STATE_DIR: the cluster's paths plus the node's own.
node_init() {
  cluster_init "$1"
  NODE=$STATE/node
  CTRD=$NODE/containerd
  CTRD_SOCK=$CTRD/containerd.sock
  KUBELET_DIR=$NODE/kubelet
  NODE_LOGS=$STATE/logs
  CTRD_PID=$STATE/run/containerd.pid
  KUBELET_PID=$STATE/run/kubelet.pid
  CNI_CONF_DIR=$NODE/cni/net.d
  # Closes the kubelet's port to every interface but lo (local traffic arrives on lo).
  KUBELET_FIREWALL=(INPUT ! -i lo -p tcp --dport "$KUBELET_PORT" -m comment --comment xtask-stack-kubelet -j DROP)
  # The admission policies that route pods between the real node and kwok's.
  POD_ROUTING=$NODE_HERE/pod-routing.yaml
}

ctr_k8s() { ctr --address "$CTRD_SOCK" --namespace k8s.io "$@"; }

containerd_ok() { pid_alive "$CTRD_PID" && ctr --address "$CTRD_SOCK" version >/dev/null 2>&1; }

kubelet_ok() {
  pid_alive "$KUBELET_PID" && curl -sf -m 2 "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz" >/dev/null 2>&1
}

node_ready() { kc wait --for condition=Ready --timeout "$1" "node/$REAL_NODE" >/dev/null 2>&1; }

# The real node's taints, one "key:effect" per line (none when pods may land there).
node_taints() {
  kc get node "$REAL_NODE" -o go-template='{{range .spec.taints}}{{.key}}:{{.effect}}{{"\n"}}{{end}}'
}

# Waits up to $1 seconds for the real node to carry no taint; fails when the API cannot
# tell (an unreadable node is not a schedulable one).
node_schedulable() {
  local deadline=$((SECONDS + $1)) taints
  while :; do
    taints=$(node_taints 2>/dev/null) || return 1
    [[ -z $taints ]] && return 0
    ((SECONDS < deadline)) || return 1
    sleep 1
  done
}

# The address the kubelet announces: it refuses a loopback node IP, so the machine's own
# non-loopback address is used (the kernel delivers packets to it locally; an iptables
# rule keeps the kubelet's port closed to every other interface).
node_ip() {
  ip -4 -o addr show scope global 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -n 1
}

# The last line of a component's log that says what went wrong, for up's error message.
last_error_line() {
  grep -aiE 'level=(error|fatal)|^[EF][0-9]{4} |error|failed' "$1" 2>/dev/null | tail -n 1 | cut -c1-400
}
