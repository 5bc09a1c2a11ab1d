#!/usr/bin/env bash
# The benchmark's private kwok cluster: tools/cluster.sh with its own workdir, its own context
# kubeconfig, an audit policy that also records reads (bench/audit-policy.yaml) and room for
# thousands of Services (bench/kwokctl.yaml), so the
# benchmark neither disturbs nor is disturbed by the shared `jupyter-containers` cluster that
# test sessions use (same cluster name, different directory, random ports).
#
#   bench/cluster.sh up|down|status|kubeconfig|audit-log-path|logs-dir
#
# JC_BENCH_WORKDIR overrides the workdir (default ~/.cache/jupyter-containers/bench-kwok).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export JC_KWOK_WORKDIR=${JC_BENCH_WORKDIR:-$HOME/.cache/jupyter-containers/bench-kwok}
export JC_CONTEXT_KUBECONFIG=$JC_KWOK_WORKDIR/context-kubeconfig.yaml
export JC_AUDIT_POLICY=$here/audit-policy.yaml
export JC_KWOKCTL_CONFIG=$here/kwokctl.yaml
# Simulated pods only: the real node is one per machine and belongs to the shared cluster.
export JC_REAL_NODE=0
mkdir -p "$JC_KWOK_WORKDIR"
exec "$here/../tools/cluster.sh" "$@"
