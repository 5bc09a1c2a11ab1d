#!/usr/bin/env bash
# The images the real node runs, built here from Debian packages and PyPI (no registry outside
# this machine is reachable) and pushed to the local registry (node.sh starts it on 127.0.0.1):
#
#   REGISTRY/jupyter-containers/pause:3.10        the pod sandbox: image/pause.c, static
#   REGISTRY/jupyter-containers/jupyterlab:TAG    Debian minbase + python3 + tini, a venv with
#                                                 image/requirements.txt, user jovyan 1000:100,
#                                                 start-notebook.py (the Docker Stacks contract)
#
# Each image is rebuilt only when its inputs change (a hash of them is its stamp) and pushed only
# when the registry lacks the digest built. Outputs live in ~/.cache/jupyter-containers/images.
#
#   tools/realnode/images.sh build       build and push what is missing
#   tools/realnode/images.sh layers      only build the layers (no registry needed)
#   tools/realnode/images.sh ref NAME    print the reference of pause or jupyterlab
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${JC_CACHE:-$HOME/.cache/jupyter-containers}
bin=${JC_BIN:-$cache/bin}
out=$cache/images
registry=${JC_REGISTRY:-127.0.0.1:5100}
export PATH=$bin:$PATH

log() { echo "images: $*" >&2; }
die() { log "error: $*"; exit 1; }

jupyterlab_tag() { sed -n 's/^jupyterlab==//p' "$here/image/requirements.txt"; }
ref() {
  case $1 in
    pause) echo "$registry/jupyter-containers/pause:3.10" ;;
    jupyterlab) echo "$registry/jupyter-containers/jupyterlab:$(jupyterlab_tag)" ;;
    *) die "no image $1" ;;
  esac
}

inputs_hash() { cat "$0" "$@" | sha256sum | cut -c1-16; }

# The Debian mirror and release this machine's apt uses (the only Debian mirror it reaches).
debian_mirror() {
  local uri
  uri=$(grep -h -m1 -E '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | head -n1)
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $2 !~ /^\[/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
  [ -n "$uri" ] || die "no Debian mirror in /etc/apt/sources.list(.d)"
  echo "$uri"
}

# A layer tar that is the same bytes for the same tree: sorted, fixed times, numeric owners.
pack_layer() { # dir tar.gz
  tar --sort=name --mtime=@0 --numeric-owner --xattrs --pax-option=delete=atime,delete=ctime \
    -C "$1" -cf - . | gzip -n -1 > "$2.tmp"
  mv "$2.tmp" "$2"
}

# Push a one-layer image unless the registry already has this layer under the reference.
push_image() { # ref layer.tar.gz crane-mutate-args...
  local image=$1 layer=$2; shift 2
  local want have
  want=$(sha256sum "$layer" | cut -d' ' -f1)
  have=$(crane config --insecure "$image" 2>/dev/null | python3 -c '
import json, sys
try:
    print(json.load(sys.stdin)["config"]["Labels"]["jupytercontainers.io/layer"])
except Exception:
    pass' || true)
  if [ "$have" = "$want" ]; then log "$image is up to date"; return; fi
  log "pushing $image"
  local push_log=$out/push.log
  {
    crane append --insecure --new_layer "$layer" --new_tag "$image" --platform linux/amd64 &&
    # -t: without it crane pushes the result by digest and the tag keeps the unmutated image.
    crane mutate --insecure "$image" -t "$image" --label "jupytercontainers.io/layer=$want" "$@"
  } >"$push_log" 2>&1 || { tail -n 20 "$push_log" >&2; die "pushing $image failed; log in $push_log"; }
}

build_pause() {
  local dir=$out/pause stamp
  stamp=$(inputs_hash "$here/image/pause.c")
  mkdir -p "$dir"
  if [ "$(cat "$dir/stamp" 2>/dev/null)" != "$stamp" ] || [ ! -f "$dir/layer.tar.gz" ]; then
    log "building pause"
    rm -rf "$dir/root" && mkdir -p "$dir/root"
    gcc -static -Os -o "$dir/root/pause" "$here/image/pause.c"
    strip "$dir/root/pause"
    pack_layer "$dir/root" "$dir/layer.tar.gz"
    echo "$stamp" > "$dir/stamp"
  fi
}

push_pause() {
  push_image "$(ref pause)" "$out/pause/layer.tar.gz" --entrypoint /pause --user 65535:65535
}

# Mounts for commands run inside the root file system; always undone.
chroot_mounts() { mount -t proc proc "$1/proc"; mount --bind /dev "$1/dev"; }
chroot_umounts() { umount "$1/proc" 2>/dev/null || true; umount "$1/dev" 2>/dev/null || true; }

build_jupyterlab() {
  local dir=$out/jupyterlab stamp rootfs
  stamp=$(inputs_hash "$here/image/requirements.txt" "$here/image/start-notebook.py")
  rootfs=$dir/rootfs
  mkdir -p "$dir"
  if [ "$(cat "$dir/stamp" 2>/dev/null)" != "$stamp" ] || [ ! -f "$dir/layer.tar.gz" ]; then
    [ "$(id -u)" = 0 ] || die "building the JupyterLab image needs root (debootstrap, chroot)"
    local suite mirror start=$SECONDS
    suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
    mirror=$(debian_mirror)
    # The Debian base is reused while only the Python packages change.
    if [ ! -f "$dir/base.done" ]; then
      log "debootstrap $suite (minbase + python3, tini) into $dir/base"
      rm -rf "$dir/base"
      debootstrap --variant=minbase --include=python3,python3-venv,tini,ca-certificates \
        "$suite" "$dir/base" "$mirror" > "$dir/debootstrap.log" 2>&1 \
        || { tail -n 20 "$dir/debootstrap.log" >&2; die "debootstrap failed; log in $dir/debootstrap.log"; }
      chroot "$dir/base" apt-get clean
      rm -rf "$dir/base"/var/lib/apt/lists/* "$dir/base"/var/cache/apt/*.bin
      touch "$dir/base.done"
    fi
    log "installing JupyterLab $(jupyterlab_tag) into the image"
    rm -rf "$rootfs" && cp -a "$dir/base" "$rootfs"
    trap 'chroot_umounts "'"$rootfs"'"' EXIT
    chroot_mounts "$rootfs"
    # pip in the image trusts what this machine trusts (its index may sit behind this machine's
    # CA); the bundle is removed again before the layer is packed.
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/tmp/host-ca.crt"
    cp "$here/image/requirements.txt" "$rootfs/tmp/requirements.txt"
    # A clean environment: this machine's CA variables name files that differ inside the image.
    chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
      PIP_CERT=/tmp/host-ca.crt REQUESTS_CA_BUNDLE=/tmp/host-ca.crt SSL_CERT_FILE=/tmp/host-ca.crt \
      PIP_DISABLE_PIP_VERSION_CHECK=1 /bin/sh -e -c '
      python3 -m venv /opt/jupyter
      /opt/jupyter/bin/pip install --quiet --no-cache-dir --no-deps --only-binary=:all: \
        -r /tmp/requirements.txt
      # The platform runs the server with PYTHONNOUSERSITE=1 (code on the user volume must not
      # run in it); kernels run the user'"'"'s own code and may use ~/.local (pip install --user).
      /opt/jupyter/bin/python3 -m ipykernel install --sys-prefix --name python3 \
        --display-name "Python 3 (ipykernel)" --env PYTHONNOUSERSITE ""
      # No news and update checks: they would ask to reach the internet from the browser.
      /opt/jupyter/bin/jupyter labextension disable --level=sys_prefix \
        "@jupyterlab/apputils-extension:announcements"
      useradd --uid 1000 --gid 100 --create-home --home-dir /home/jovyan --shell /bin/bash jovyan
      rm -f /tmp/host-ca.crt /tmp/requirements.txt
      find /opt/jupyter -name __pycache__ -prune -exec rm -rf {} +
    ' > "$dir/pip.log" 2>&1 || { tail -n 20 "$dir/pip.log" >&2; die "pip install failed; log in $dir/pip.log"; }
    chroot_umounts "$rootfs"
    trap - EXIT
    install -m 0755 "$here/image/start-notebook.py" "$rootfs/usr/local/bin/start-notebook.py"
    log "packing the layer"
    pack_layer "$rootfs" "$dir/layer.tar.gz"
    rm -rf "$rootfs"
    echo "$stamp" > "$dir/stamp"
    log "built jupyterlab in $((SECONDS - start))s"
  fi
}

push_jupyterlab() {
  push_image "$(ref jupyterlab)" "$out/jupyterlab/layer.tar.gz" \
    --entrypoint /usr/bin/tini,-g,-- --cmd start-notebook.py --user 1000:100 --workdir /home/jovyan \
    -e PATH=/opt/jupyter/bin:/usr/local/bin:/usr/bin:/bin -e HOME=/home/jovyan -e SHELL=/bin/bash \
    -e LANG=C.UTF-8 \
    --exposed-ports 8888/tcp
}

case ${1:-} in
  layers)
    build_pause
    build_jupyterlab ;;
  build)
    command -v crane >/dev/null || die "no crane in $bin; run 'make tools'"
    build_pause
    build_jupyterlab
    push_pause
    push_jupyterlab ;;
  ref) ref "${2:?usage: images.sh ref pause|jupyterlab}" ;;
  *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
