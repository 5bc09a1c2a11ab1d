#!/usr/bin/env bash
# Resolves jupyterlab==VERSION and all its dependencies into requirements.txt (exact pins), as pip
# would inside the image (CPython 3.11.2 on Linux x86_64: Debian 12's python3). Run by hand on an upgrade.
#   tools/realnode/image/lock.sh 4.6.6
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=${1:?usage: lock.sh JUPYTERLAB_VERSION}
report=$(mktemp)
target=$(mktemp -d)
trap 'rm -rf "$report" "$target"' EXIT
python3 -m pip install --quiet --dry-run --ignore-installed --python-version 3.11.2 \
  --platform manylinux_2_36_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform linux_x86_64 --only-binary=:all: --target "$target" --report "$report" "jupyterlab==$version"
{
  echo "# JupyterLab and every dependency, pinned (the image is rebuilt when this file changes)."
  echo "# Regenerate: tools/realnode/image/lock.sh (resolves jupyterlab==VERSION for CPython 3.11.2, Debian 12's)."
  python3 -c '
import json, sys
for item in sorted(json.load(open(sys.argv[1]))["install"], key=lambda i: i["metadata"]["name"].lower()):
    meta = item["metadata"]
    print(meta["name"] + "==" + meta["version"])
' "$report"
} > "$here/requirements.txt.tmp"
mv "$here/requirements.txt.tmp" "$here/requirements.txt"
