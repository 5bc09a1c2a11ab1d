#!/usr/bin/env bash
# Debian packages the real node needs: containerd, runc, the CNI plugins, a registry, debootstrap
# (the JupyterLab image's root file system) and gcc (the pause binary). Installed only when a
# command is missing; nothing is configured system-wide (node.sh runs each one privately).
#
#   tools/realnode/packages.sh          install what is missing (root, Debian/Ubuntu)
#   tools/realnode/packages.sh --check  exit 1 with one line naming what is missing
set -euo pipefail

# command -> Debian package
declare -A want=(
  [containerd]=containerd
  [runc]=runc
  [/usr/lib/cni/bridge]=containernetworking-plugins
  [/usr/bin/docker-registry]=docker-registry
  [debootstrap]=debootstrap
  [gcc]=gcc
  [ip]=iproute2
  [unshare]=util-linux
)

missing=()
for cmd in "${!want[@]}"; do
  if [[ $cmd == /* ]]; then [ -x "$cmd" ] && continue; else command -v "$cmd" >/dev/null && continue; fi
  missing+=("${want[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if [ "${1:-}" = --check ]; then
  echo "real node: missing Debian packages: ${missing[*]} (run tools/realnode/packages.sh as root)" >&2
  exit 1
fi
command -v apt-get >/dev/null \
  || { echo "real node: no apt-get on this machine; install ${missing[*]} by hand" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "real node: installing ${missing[*]} needs root" >&2; exit 1; }

echo "real node: installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# The package lists may be absent (a fresh image) or stale; one update, then the install.
apt-get update -qq >/dev/null
# --no-install-recommends: docker-registry and containerd recommend nothing we use.
# policy-rc.d: a package's postinst must not start a system-wide containerd or registry service.
policy=/usr/sbin/policy-rc.d
had_policy=0; [ -e $policy ] && had_policy=1
[ $had_policy = 1 ] || { printf '#!/bin/sh\nexit 101\n' > $policy; chmod +x $policy; }
trap '[ $had_policy = 1 ] || rm -f $policy' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
