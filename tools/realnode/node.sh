#!/usr/bin/env bash
# The local cluster's real node: a kubelet (built from tools/kubernetes) with containerd, runc and
# the CNI bridge plugin from Debian, a registry on 127.0.0.1 holding locally built images
# (images.sh) and a volume provisioner (tools/provisioner), beside the kwok nodes. Everything
# runs privately: its own containerd config, root, state and socket, its own CNI directories,
# cgroup root and bridge; nothing system-wide is configured and `down` leaves nothing behind.
# Pods get addresses on the bridge only: no gateway, no masquerade, no route off the machine.
#
#   tools/realnode/node.sh up       start what is not running (idempotent; restarts dead parts)
#   tools/realnode/node.sh down     stop everything, unmount, delete the bridge and cgroups
#   tools/realnode/node.sh status   one line per component
#   tools/realnode/node.sh check    exit 0 if this machine can run the node, else say why
#   tools/realnode/node.sh pod-subnet   the CIDR of its pods' addresses
#
# Called by tools/cluster.sh (JC_REAL_NODE=0 turns it off); needs the cluster's kubeconfig in
# JC_CLUSTER_KUBECONFIG and its PKI directory in JC_CLUSTER_PKI.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib/process.sh
. "$here/../lib/process.sh"
cache=${JC_CACHE:-$HOME/.cache/jupyter-containers}
bin=${JC_BIN:-$cache/bin}
base=$cache/realnode
run=/run/jupyter-containers/realnode
logs=$base/logs

node_name=jc-real-node
bridge=jcbr0
node_ip=10.88.0.1
pod_subnet=10.88.0.0/24
cgroup_root=jupyter-containers
registry_addr=${JC_REGISTRY:-127.0.0.1:5100}
storage_class=jc-local-path
taint_key=jupytercontainers.io/real-node

containerd_sock=$run/containerd/containerd.sock
kubelet_root=$base/kubelet

log() { echo "real node: $*" >&2; }
die() { log "error: $*"; exit 1; }

# ------------------------------------------------------------------ prerequisites

check() {
  [ "$(uname -s)" = Linux ] || { echo "not Linux"; return 1; }
  [ "$(id -u)" = 0 ] || { echo "not root (the kubelet and containerd need root)"; return 1; }
  [ -d /sys/fs/cgroup ] || { echo "no /sys/fs/cgroup"; return 1; }
  grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null \
    || { echo "the kernel has no overlay file system (containerd's snapshotter)"; return 1; }
  command -v unshare >/dev/null || { echo "no unshare (util-linux)"; return 1; }
}

cgroup_v1_hierarchies() {
  awk '$3 == "cgroup" {print $2}' /proc/mounts
}
cgroup_v2_mount() {
  awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts
}

# ------------------------------------------------------------------ processes

pidfile() { echo "$run/$1.pid"; }

ours_running() { # pid
  is_ours_running "$1" "$base"
}

alive() { # component
  local pid
  pid=$(cat "$(pidfile "$1")" 2>/dev/null) || return 1
  [ -n "$pid" ] && ours_running "$pid"
}

# Start a long-running process detached from this shell: its own session, stdin closed, log in
# $logs, pid in $run. The lock descriptor of cluster.sh (9) is not inherited.
spawn() { # component command...
  local name=$1; shift
  mkdir -p "$logs" "$run"
  setsid "$@" </dev/null >>"$logs/$name.log" 2>&1 9>&- &
  echo $! > "$(pidfile "$name")"
}

stop() { # component
  local pid deadline=$((SECONDS + 20))
  pid=$(cat "$(pidfile "$1")" 2>/dev/null) || return 0
  if [ -n "$pid" ] && ours_running "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    while ours_running "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    ours_running "$pid" && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$(pidfile "$1")"
}

wait_for() { # seconds description command...
  local limit=$1 what=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.3
  done
}

# ------------------------------------------------------------------ registry

registry_config() {
  mkdir -p "$base/registry" "$cache/registry"
  cat > "$base/registry/config.yml" <<EOF
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $cache/registry}
  delete: {enabled: true}
http:
  addr: $registry_addr
EOF
}

registry_up() {
  alive registry && curl -sf "http://$registry_addr/v2/" >/dev/null && return
  stop registry
  registry_config
  spawn registry /usr/bin/docker-registry serve "$base/registry/config.yml"
  wait_for 20 registry curl -sf "http://$registry_addr/v2/" \
    || die "the registry did not answer on $registry_addr; log: $logs/registry.log"
}

# ------------------------------------------------------------------ network, cgroups

bridge_up() {
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
  fi
  # Captured first: with pipefail, grep -q closing the pipe early would fail the test.
  local addrs
  addrs=$(ip -4 -o addr show dev "$bridge")
  [[ $addrs == *" $node_ip/"* ]] || ip addr add "$node_ip/24" dev "$bridge"
  ip link set "$bridge" up
}

cgroups_up() {
  local h
  for h in $(cgroup_v1_hierarchies); do
    mkdir -p "$h/$cgroup_root"
    if [ -f "$h/cpuset.cpus" ]; then
      # A new cpuset cgroup starts empty; its tasks could run nowhere.
      [ -s "$h/$cgroup_root/cpuset.cpus" ] || cat "$h/cpuset.cpus" > "$h/$cgroup_root/cpuset.cpus"
      [ -s "$h/$cgroup_root/cpuset.mems" ] || cat "$h/cpuset.mems" > "$h/$cgroup_root/cpuset.mems"
    fi
  done
  h=$(cgroup_v2_mount)
  [ -z "$h" ] || mkdir -p "$h/$cgroup_root"
}

cgroups_down() {
  local h
  for h in $(cgroup_v1_hierarchies) $(cgroup_v2_mount); do
    [ -d "$h/$cgroup_root" ] || continue
    # Deepest first; a cgroup still holding a process stays (and is reported).
    find "$h/$cgroup_root" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    [ ! -d "$h/$cgroup_root" ] || log "cgroup $h/$cgroup_root is still in use"
  done
}

# ------------------------------------------------------------------ containerd

containerd_config() {
  local pause
  pause=$("$here/images.sh" ref pause)
  mkdir -p "$base/containerd" "$base/cni/net.d" "$base/certs.d/$registry_addr" "$run/containerd"
  cat > "$base/certs.d/$registry_addr/hosts.toml" <<EOF
# The local registry speaks plain HTTP on the loopback address.
server = "http://$registry_addr"
[host."http://$registry_addr"]
  capabilities = ["pull", "resolve", "push"]
EOF
  cat > "$base/cni/net.d/10-jupyter-containers.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "jupyter-containers",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$base/cni/ipam",
        "ranges": [[{"subnet": "$pod_subnet", "rangeStart": "10.88.0.10", "rangeEnd": "10.88.0.250"}]],
        "routes": []
      }
    }
  ]
}
EOF
  cat > "$base/containerd/config.toml" <<EOF
version = 2
root = "$base/containerd/root"
state = "$run/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$containerd_sock"
[ttrpc]
  address = "$run/containerd/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$base/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause"
  # The machine lacks CAP_SYS_RESOURCE: runc cannot lower a process's oom_score_adj.
  restrict_oom_score_adj = true
  enable_selinux = false
  # Network namespaces under our state directory, not the system-wide /var/run/netns.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        Root = "$run/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$base/cni/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$base/certs.d"
EOF
}

containerd_up() {
  alive containerd && [ -S "$containerd_sock" ] && return
  stop containerd
  containerd_config
  spawn containerd containerd --config "$base/containerd/config.toml"
  wait_for 30 containerd ctr --address "$containerd_sock" version \
    || die "containerd did not start; log: $logs/containerd.log"
}

# ------------------------------------------------------------------ kubelet

kubelet_config() {
  local pki=${JC_CLUSTER_PKI:?} kubeconfig=${JC_CLUSTER_KUBECONFIG:?}
  mkdir -p "$base/kubelet-config" "$kubelet_root"
  cp "$kubeconfig" "$base/kubelet-config/kubeconfig.yaml"
  cat > "$base/kubelet-config/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $node_ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  # Only the API server (with the cluster CA's client certificate) reaches logs, exec, port-forward.
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: unix://$containerd_sock
cgroupDriver: cgroupfs
cgroupRoot: /$cgroup_root
failCgroupV1: false
failSwapOn: false
makeIPTablesUtilChains: false
protectKernelDefaults: false
registerNode: true
registerWithTaints:
- {key: $taint_key, value: "true", effect: NoSchedule}
maxPods: 30
serializeImagePulls: false
# The host's disk and memory belong to others too: evict only when truly short.
evictionHard: {memory.available: 200Mi, nodefs.available: 2%, imagefs.available: 2%}
imageGCHighThresholdPercent: 98
imageGCLowThresholdPercent: 95
containerLogMaxSize: 10Mi
containerLogMaxFiles: 2
nodeStatusReportFrequency: 10s
EOF
}

# The kubelet sets vm.overcommit_memory, kernel.panic and kernel.panic_on_oops at start. It runs
# in a mount namespace of its own where those three files are covered by copies, so the host
# keeps its values; its root directory is a shared mount, so the volumes it mounts there reach
# containerd and the containers in the host's namespace.
# Which cluster a running kubelet or provisioner serves: its kubeconfig names certificate files
# by path, and a recreated cluster keeps the paths (even the ports) but not the certificates.
cluster_identity() {
  cat "${JC_CLUSTER_KUBECONFIG:?}" "${JC_CLUSTER_PKI:?}/ca.crt" | sha256sum | cut -c1-16
}

kubelet_up() {
  local want
  want=$(cluster_identity)
  if alive kubelet && [ "$(cat "$run/kubelet.cluster" 2>/dev/null)" = "$want" ]; then return; fi
  stop kubelet
  kubelet_config
  if ! findmnt -n "$kubelet_root" >/dev/null; then
    mount --bind "$kubelet_root" "$kubelet_root"
  fi
  mount --make-rshared "$kubelet_root"
  mkdir -p "$base/sysctl"
  local key file
  for key in vm/overcommit_memory kernel/panic kernel/panic_on_oops; do
    file=$base/sysctl/${key//\//.}
    cat "/proc/sys/$key" > "$file"
  done
  spawn kubelet unshare -m --propagation unchanged sh -c '
    set -e
    for key in vm/overcommit_memory kernel/panic kernel/panic_on_oops; do
      mount --bind "$1/sysctl/$(echo $key | tr / .)" "/proc/sys/$key"
    done
    shift
    exec "$@"' sh "$base" \
    "$bin/kubelet" --config "$base/kubelet-config/config.yaml" \
    --kubeconfig "$base/kubelet-config/kubeconfig.yaml" --root-dir "$kubelet_root" \
    --cert-dir "$base/kubelet-config/pki" --hostname-override "$node_name" --node-ip "$node_ip" \
    --node-labels "type=real,$taint_key=true" --v=1
  echo "$want" > "$run/kubelet.cluster"
}

provisioner_up() {
  local want
  want=$(cluster_identity)
  if alive provisioner && [ "$(cat "$run/provisioner.cluster" 2>/dev/null)" = "$want" ]; then return; fi
  stop provisioner
  spawn provisioner "$bin/local-path-provisioner" --kubeconfig "$JC_CLUSTER_KUBECONFIG" \
    --node "$node_name" --dir "$base/volumes"
  echo "$want" > "$run/provisioner.cluster"
}

kctl() { "$bin/kubectl" --kubeconfig "$JC_CLUSTER_KUBECONFIG" "$@"; }

cluster_objects() {
  kctl apply -f - >/dev/null <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: $storage_class
  labels: {app.kubernetes.io/part-of: jupyter-containers}
provisioner: jupytercontainers.io/local-path
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
parameters: {uid: "1000", gid: "100"}
EOF
}

node_ready() {
  [ "$(kctl get node "$node_name" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

# ------------------------------------------------------------------ up / down

# One real node per machine, attached to one cluster at a time: another cluster asking for it
# while its owner still exists is told so (exit 3) instead of taking it over.
owner_check() {
  local owner
  owner=$(cat "$run/owner" 2>/dev/null) || return 0
  if [ "$owner" != "$JC_CLUSTER_KUBECONFIG" ] && [ -f "$owner" ] && alive kubelet; then
    log "the real node is attached to the cluster of $owner; stop that cluster first"
    exit 3
  fi
}

cmd_up() {
  local why start=$SECONDS
  why=$(check) || die "$why"
  : "${JC_CLUSTER_KUBECONFIG:?}"
  owner_check
  "$here/packages.sh" --check 2>/dev/null || "$here/packages.sh"
  local b
  for b in kubelet crane local-path-provisioner kubectl; do
    [ -x "$bin/$b" ] || die "missing $bin/$b; build it with 'make tools'"
  done
  mkdir -p "$run" "$logs"
  echo "$JC_CLUSTER_KUBECONFIG" > "$run/owner"
  registry_up
  "$here/images.sh" build
  bridge_up
  cgroups_up
  containerd_up
  kubelet_up
  provisioner_up
  cluster_objects
  wait_for 90 "node Ready" node_ready \
    || die "node $node_name not Ready after 90s; log: $logs/kubelet.log"
  log "node $node_name is Ready ($((SECONDS - start))s)"
}

cmd_down() {
  # With the API server up: cordon and delete the node's pods, so the kubelet itself stops their
  # containers and tears down their volumes and network namespaces; then remove the Node.
  if alive kubelet && [ -n "${JC_CLUSTER_KUBECONFIG:-}" ] && kctl get node "$node_name" >/dev/null 2>&1; then
    kctl cordon "$node_name" >/dev/null 2>&1 || true
    kctl delete pods --all-namespaces --field-selector "spec.nodeName=$node_name" \
      --wait=true --timeout=60s >/dev/null 2>&1 || log "some pods did not stop in 60s"
    kctl delete node "$node_name" --wait=false >/dev/null 2>&1 || true
  fi
  stop provisioner
  stop kubelet
  # Whatever is left (the API server was away, or a crash): kill it through containerd.
  if alive containerd; then
    local id
    for id in $(ctr --address "$containerd_sock" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr --address "$containerd_sock" -n k8s.io tasks kill -s KILL "$id" >/dev/null 2>&1 || true
      ctr --address "$containerd_sock" -n k8s.io tasks delete -f "$id" >/dev/null 2>&1 || true
    done
  fi
  stop containerd
  stop registry
  pkill -KILL -f -- "containerd-shim-runc-v2 .*-address $containerd_sock" 2>/dev/null || true
  local m
  # Mounts under our directories, deepest first: pod volumes, overlay snapshots, netns files.
  for m in $(awk '{print $2}' /proc/mounts | grep -E "^($base|$run)" | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  if ip link show "$bridge" >/dev/null 2>&1; then ip link delete "$bridge"; fi
  cgroups_down
  # Never remove a directory that still has a mount below it (a PVC's files could be behind it).
  local left
  left=$(awk '{print $2}' /proc/mounts | grep -E "^($base|$run)" || true)
  [ -z "$left" ] || die "mounts remain under $base or $run; left in place: $(echo $left)"
  rm -rf "$run" "$base/cni/ipam" "$base/kubelet" "$base/kubelet-config"
  log "stopped; nothing of the node is running"
}

cmd_status() {
  local c
  for c in registry containerd kubelet provisioner; do
    if alive "$c"; then printf '%-12s running pid %s\n' "$c" "$(cat "$(pidfile "$c")")"
    else printf '%-12s stopped\n' "$c"; fi
  done
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  check) check ;;
  pod-subnet) echo "$pod_subnet" ;;
  *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
