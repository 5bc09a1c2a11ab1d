#!/usr/bin/env bash
# `make run`: the product on the local control plane. Installs the CRDs and the
# examples, runs the operator in the foreground, and shows the example container
# reaching Active. Ctrl-C stops the operator (the cluster keeps running:
# `make cluster-down` removes it).
set -euo pipefail
cd "$(dirname "$0")/.."
export KUBECONFIG=${KUBECONFIG:-$(tools/cluster.sh kubeconfig)}
JC_BIN=${JC_BIN:-$HOME/.cache/jupyter-containers/bin}
log=${JC_RUN_LOG:-$HOME/.cache/jupyter-containers/operator.log}

kubectl apply --server-side --force-conflicts -f crds/ >/dev/null
kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
# A CRD just Established has its watch cache still initializing: a watch opened then is refused
# (429) and, when retried, can miss the objects created meanwhile (the catalog applied below).
# One short watch per kind, retried by kubectl on 429, returns once watches are served.
for plural in jupytercontainers instancetypes volumes jupyterimages resourcebundles; do
  kubectl get --raw "/apis/jupytercontainers.io/v1alpha1/$plural?watch=1&timeoutSeconds=1" >/dev/null
done

# The image the local registry serves (tools/realnode/images.sh built it with the cluster).
export JC_JUPYTER_IMAGE=${JC_JUPYTER_IMAGE:-$(tools/realnode/images.sh ref jupyterlab)}
# The operator's metrics default to 8080, the console's local port below: here they move to
# 9090, so both run on this host.
export JC_METRICS_PORT=${JC_METRICS_PORT:-9090}
# The culler's probes carry a container's token to its pod's address: only the real node's pods
# have real ones (a kwok pod's address is simulated, and a probe to it would leave the machine).
export JC_CULL_PROBE_NETWORKS=${JC_CULL_PROBE_NETWORKS:-$(tools/realnode/node.sh pod-subnet)}
python -m jupyter_containers.main >"$log" 2>&1 &
op=$!
trap 'kill $op 2>/dev/null; wait $op 2>/dev/null; echo; echo "operator stopped (cluster still up: make cluster-down)"' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:${JC_HEALTH_PORT:-8081}/healthz" >/dev/null 2>&1 && break
  kill -0 $op 2>/dev/null || { echo "operator exited; log: $log"; tail -30 "$log"; exit 1; }
  sleep 0.3
done
echo "operator running (pid $op, log $log)"

apply() { kubectl apply --server-side --force-conflicts "$@"; }
apply -f examples/00-namespace.yaml -f examples/10-catalog.yaml
if kubectl get node jc-real-node >/dev/null 2>&1; then
  # The catalog on the real node, before any container exists: examples/local/real-node.yaml,
  # and the examples' images from the local registry.
  tools/realnode/local-catalog.sh
  where="a real JupyterLab on the real node jc-real-node"
else
  where="a simulated pod on a kwok node (no real node on this machine: nothing answers at its URL)"
fi
for f in examples/*.yaml; do
  case $f in */00-namespace.yaml|*/10-catalog.yaml) ;; *) apply -f "$f" ;; esac
done
echo "waiting for team-a/analysis to become Active ($where) ..."
kubectl wait -n team-a jc/analysis --for=condition=Ready --timeout=300s
kubectl get jc -n team-a -o wide

# The web console, as the development sign-in's users (alice may use team-a and create bundles).
kubectl apply -f examples/rbac/user-roles.yaml >/dev/null
for binding in "console-alice jupyter-containers-user" "console-alice-bundles jupyter-containers-bundle-creator"; do
  set -- $binding
  kubectl create rolebinding "$1" -n team-a --clusterrole="$2" --user=alice --dry-run=client -o yaml \
    | kubectl apply -f - >/dev/null
done
console_port=${JC_CONSOLE_PORT:-8080}
console_log=${JC_CONSOLE_LOG:-$HOME/.cache/jupyter-containers/console.log}
JC_CONSOLE_KUBE_CONTEXT=kwok-jupyter-containers JC_CONSOLE_DEV_LOGIN=true JC_CONSOLE_HOST=127.0.0.1 \
  JC_CONSOLE_PORT=$console_port JC_CONSOLE_UPSTREAM=endpoints \
  jupyter-containers-console >"$console_log" 2>&1 &
console=$!
trap 'kill $op $console 2>/dev/null; wait $op $console 2>/dev/null; echo; echo "operator and console stopped (cluster still up: make cluster-down)"' EXIT
for _ in $(seq 1 100); do
  kill -0 $console 2>/dev/null || { echo "console exited; log: $console_log"; tail -30 "$console_log"; exit 1; }
  [ "$(curl -fsS "http://127.0.0.1:$console_port/healthz" 2>/dev/null)" = ok ] && break
  sleep 0.3
done
[ "$(curl -fsS "http://127.0.0.1:$console_port/healthz" 2>/dev/null)" = ok ] \
  || { echo "console did not answer on port $console_port; log: $console_log"; tail -30 "$console_log"; exit 1; }

cat <<TXT

Web console: http://127.0.0.1:$console_port/  (development sign-in: pick alice; the example is
under "Shared with me" there, and "Open JupyterLab" opens it through the console's proxy)
TXT
cat <<TXT

The example container is Active: $where. In another shell:
  export PATH=$(dirname "$(command -v python)"):$JC_BIN:\$PATH KUBECONFIG=$KUBECONFIG
  kubectl get jc -A -w                          # live status (Starting / Active / Stopped / Failed)
  kubectl describe jc -n team-a analysis
  kubectl jupyter list -n team-a                # the plugin: My Jupyter Containers
  kubectl jupyter open -n team-a analysis       # port-forward + URL with the token
  kubectl jupyter terminate -n team-a analysis  # or: kubectl patch jc ... -p '{"spec":{"running":false}}'
Ctrl-C stops the operator and the console.
TXT
wait $op
