#!/usr/bin/env bash
# Builds the local control plane (and the real node's kubelet, crane and volume provisioner)
# from the Go module proxy into $JC_BIN
# (default ~/.cache/jupyter-containers/bin). Each group is rebuilt only when its
# go.mod/go.sum changed since the last successful build (a stamp file per group).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${JC_BIN:-$HOME/.cache/jupyter-containers/bin}
mkdir -p "$bin"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false

stamp_of() { cat "$here/$1/go.mod" "$here/$1/go.sum" | sha256sum | cut -d' ' -f1; }

up_to_date() { # group binaries...
  local group=$1; shift
  [ "$(cat "$bin/.$group.stamp" 2>/dev/null)" = "$(stamp_of "$group")" ] || return 1
  for b in "$@"; do [ -x "$bin/$b" ] || return 1; done
}

build_group() { # group ldflags package[=name]...
  local group=$1 ldflags=$2; shift 2
  local names=() pkgs=()
  for p in "$@"; do pkgs+=("${p%%=*}"); if [[ $p == *=* ]]; then names+=("${p#*=}"); else names+=("$(basename "$p")"); fi; done
  if up_to_date "$group" "${names[@]}"; then
    echo "tools: $group up to date in $bin"; return
  fi
  echo "tools: building $group (${names[*]}) into $bin"
  local start=$SECONDS
  if [ ${#pkgs[@]} -eq 1 ]; then
    (cd "$here/$group" && go build -trimpath -ldflags "$ldflags" -o "$bin/${names[0]}" "${pkgs[0]}")
  else
    (cd "$here/$group" && go build -trimpath -ldflags "$ldflags" -o "$bin/" "${pkgs[@]}")
  fi
  stamp_of "$group" > "$bin/.$group.stamp"
  echo "tools: built $group in $((SECONDS - start))s"
}

module_version() { # group module
  (cd "$here/$1" && go list -m -f '{{.Version}}' "$2")
}

kube_version=$(module_version kubernetes k8s.io/kubernetes)
minor=$(echo "$kube_version" | cut -d. -f2)
kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done

# etcd and kwok first: they are small, and a cluster needs all of them anyway.
build_group etcd "-s -w" go.etcd.io/etcd/server/v3=etcd
build_group kwok "-s -w" \
  sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl
build_group kubernetes "$kube_ldflags" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kubelet
# The real node's own tools (tools/realnode): image building/pushing and the volume provisioner.
build_group crane "-s -w" github.com/google/go-containerregistry/cmd/crane
build_group provisioner "-s -w" .=local-path-provisioner
helm_version=$(module_version helm helm.sh/helm/v4)
build_group helm "-s -w -X helm.sh/helm/v4/internal/version.version=$helm_version -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
  helm.sh/helm/v4/cmd/helm
