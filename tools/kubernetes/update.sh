#!/usr/bin/env bash
# Regenerates go.mod/go.sum for a Kubernetes release. The replace list is derived
# from that release's own go.mod (every `k8s.io/X => ./staging/src/k8s.io/X` line
# becomes `k8s.io/X => k8s.io/X v0.MINOR.PATCH`), because replace lines of a
# dependency are ignored by Go (kubernetes/kubernetes#79384).
# Usage: tools/kubernetes/update.sh v1.34.4
set -euo pipefail
version=${1:?usage: update.sh vX.Y.Z}
staging_version="v0.${version#v1.}"
cd "$(dirname "$0")"
gomod=$(go mod download -json "k8s.io/kubernetes@${version}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
cat > go.mod <<EOT
module jupytercontainers.io/tools/kubernetes

go 1.24.0
EOT
go mod edit -require="k8s.io/kubernetes@${version}"
grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/' "$gomod" | awk '{print $1}' | while read -r mod; do
  go mod edit -replace="${mod}=${mod}@${staging_version}"
done
for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  go mod edit -tool="k8s.io/kubernetes/cmd/${cmd}"
done
go mod tidy
