#!/usr/bin/env bash
# The examples' catalog on this machine's real node: applies examples/local/real-node.yaml (the
# `small` instance type and the home volume there) and the examples' JupyterImages with the
# JupyterLab image of the local registry as their image, since their public registry is out of
# this machine's reach. Applied server-side as kubectl's own field manager, like the examples:
# re-applying examples/10-catalog.yaml restores them. Used by `make run` (tools/run.sh) and its
# test (tests/cluster/realnode/test_examples.py). Needs KUBECONFIG (or kubectl's context) and
# the project's python (PyYAML) on PATH.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
image=${JC_JUPYTER_IMAGE:-$("$here/images.sh" ref jupyterlab)}

{
  cat "$repo/examples/local/real-node.yaml"
  python - "$repo/examples/10-catalog.yaml" "$image" <<'PY'
import sys

import yaml

catalog, image = sys.argv[1:]
with open(catalog) as f:
    images = [d for d in yaml.safe_load_all(f) if d and d["kind"] == "JupyterImage"]
for doc in images:
    doc["spec"]["image"] = image
    print("---")
    print(yaml.safe_dump(doc, sort_keys=False), end="")
PY
} | kubectl apply --server-side --force-conflicts -f -
