"""Image pre-pull on the real node: a start with the image absent, then one with it pre-pulled.

The image (the JupyterLab image with a layer of its own) is removed from the node's containerd
(every name of its digests, then containerd's garbage collection), a container started and
timed; removed again, pre-pull turned on and awaited (the DaemonSet ready, the digest back on
the node before the container exists), and a second container started and timed. Both starts
pull the tag (imagePullPolicy Always): the first fetches and unpacks the layer, the second only
checks the manifest. The two times are printed (run with -s); the pre-pulled start must be the
faster.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.conftest import jupyterlab_image
from tests.cluster.realnode.conftest import NODE_NAME
from tests.conftest import BIN, SESSION_ID
from tests.operator_identity import IDENTITY_NAMESPACE

Make = Callable[..., dict[str, Any]]
Wait = Callable[..., dict[str, Any]]

#: tools/realnode/node.sh: the real node's private containerd.
CONTAINERD_SOCKET = "/run/jupyter-containers/realnode/containerd/containerd.sock"
ACTIVE_TIMEOUT = 300
#: "Successfully pulled image "x" in 1m2.5s (1m2.5s including waiting). Image size: ..."
PULLED = re.compile(r" in ([0-9.hmsµu]+) \(")
GO_DURATION = re.compile(r"([0-9.]+)(h|ms|m|s|µs|us)")
SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "µs": 1e-6, "us": 1e-6}


def go_duration(text: str) -> float:
    """Seconds of a Go time.Duration string ('1m2.5s', '850ms')."""
    return sum(float(n) * SECONDS[unit] for n, unit in GO_DURATION.findall(text))


def running_users(repository: str) -> int:
    """Containers on the node running an image of the repository (their layers stay unpacked
    whatever is removed, so a start beside them only downloads)."""
    rows = [line.split() for line in ctr("containers", "ls").splitlines()[1:]]
    return sum(1 for r in rows if len(r) >= 2 and r[1].startswith(f"{repository}:"))


def ctr(*args: str) -> str:
    result = subprocess.run(
        ["ctr", "--address", CONTAINERD_SOCKET, "-n", "k8s.io", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"ctr {' '.join(args)}: {result.stderr}"
    return result.stdout


def _images() -> list[tuple[str, str]]:
    """(name, manifest digest) of every image the node's containerd holds."""
    rows = [line.split() for line in ctr("images", "ls").splitlines()[1:]]
    return [(r[0], r[2]) for r in rows if len(r) >= 3]


def present(digest: str) -> bool:
    return any(d == digest for _, d in _images())


def remove_from_node(repository: str) -> None:
    """Every image of the repository off the node: all names of each of their digests (tag,
    repo@digest, config id), then containerd's garbage collection of the layers, which no
    other image shares (the pause image is another one)."""
    digests = {d for n, d in _images() if n.startswith((f"{repository}:", f"{repository}@"))}
    names = [n for n, d in _images() if d in digests]
    if names:
        ctr("images", "rm", "--sync", *names)
    assert not any(d in digests for _, d in _images())


def crane(*args: str) -> str:
    result = subprocess.run(
        [str(BIN / "crane"), "--insecure", *args], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"crane {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


def _mutations(config: dict[str, Any]) -> list[str]:
    """crane mutate's arguments that give an image this config (what images.sh sets)."""
    c = config["config"]
    args = ["--entrypoint", ",".join(c["Entrypoint"]), "--cmd", ",".join(c.get("Cmd") or [])]
    args += ["--user", c["User"], "--workdir", c["WorkingDir"]]
    for env in c.get("Env") or []:
        args += ["-e", env]
    for port in c.get("ExposedPorts") or {}:
        args += ["--exposed-ports", port]
    return args


@pytest.fixture
def unique_image(tmp_path: Path) -> Iterator[str]:
    """The JupyterLab image with one file more in its layer, in a repository of its own: no
    other image on the node shares its layer (the session's JupyterLab containers keep theirs
    unpacked), so its first start on the node downloads and unpacks all of it."""
    source = jupyterlab_image()
    repository = source.rsplit(":", 1)[0] + "-prepull"
    tag = f"{repository}:{SESSION_ID}"
    (layer,) = json.loads(crane("manifest", source))["layers"]
    raw = tmp_path / "layer.tar"
    blob = subprocess.Popen(
        [str(BIN / "crane"), "--insecure", "blob", f"{source.rsplit(':', 1)[0]}@{layer['digest']}"],
        stdout=subprocess.PIPE,
    )
    assert blob.stdout is not None
    with gzip.GzipFile(fileobj=blob.stdout) as unzipped, raw.open("wb") as out:
        shutil.copyfileobj(unzipped, out, 1 << 20)
    assert blob.wait(timeout=300) == 0
    marker = f"prepull test {SESSION_ID}\n".encode()
    with tarfile.open(raw, "a") as tar:
        info = tarfile.TarInfo("./etc/jupyter-containers-prepull-test")
        info.size, info.mode = len(marker), 0o644
        tar.addfile(info, io.BytesIO(marker))
    packed = tmp_path / "layer.tar.gz"
    with packed.open("wb") as out:
        subprocess.run(["gzip", "-1", "-n", "-c", str(raw)], stdout=out, check=True, timeout=300)
    raw.unlink()
    crane("append", "--new_layer", str(packed), "--new_tag", tag, "--platform", "linux/amd64")
    crane("mutate", tag, "-t", tag, *_mutations(json.loads(crane("config", source))))
    digest = crane("digest", tag)
    yield tag
    crane("delete", f"{repository}@{digest}")
    remove_from_node(repository)


@dataclass
class Start:
    create_to_active: float
    scheduled_to_started: float
    pull: float


def _json(kubectl: Any, *args: str) -> Any:
    return json.loads(kubectl(*args, "-o", "json").stdout)


def _stamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def timed_start(
    name: str, image: str, real_container: Make, wait_phase: Wait, kubectl: Any, namespace: str
) -> Start:
    began = time.monotonic()
    real_container(name, image=image)
    jc = wait_phase(name, "Active", timeout=ACTIVE_TIMEOUT)
    create_to_active = time.monotonic() - began
    uid = jc["metadata"]["uid"]
    (pod,) = _json(
        kubectl, "get", "pods", "-n", namespace, "-l", f"jupytercontainers.io/uid={uid}"
    )["items"]
    assert pod["spec"]["nodeName"] == NODE_NAME
    scheduled = next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
    (status,) = pod["status"]["containerStatuses"]
    started = _stamp(status["state"]["running"]["startedAt"])
    events = _json(
        kubectl,
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        f"involvedObject.name={pod['metadata']['name']},reason=Pulled",
    )["items"]
    (pulled,) = [e for e in events if "Successfully pulled" in e.get("message", "")] or [None]
    assert pulled is not None, f"no Pulled event for {pod['metadata']['name']}: {events}"
    found = PULLED.search(pulled["message"])
    assert found is not None, pulled["message"]
    return Start(
        create_to_active=create_to_active,
        scheduled_to_started=(started - _stamp(scheduled["lastTransitionTime"])).total_seconds(),
        pull=go_duration(found.group(1)),
    )


def _stop(name: str, kubectl: Any, namespace: str, wait_phase: Wait) -> None:
    kubectl("delete", "jc", name, "-n", namespace, "--timeout=120s", timeout=130)
    kubectl(
        "wait",
        "--for=delete",
        "pods",
        "-n",
        namespace,
        "-l",
        f"jupytercontainers.io/name={name}",
        "--timeout=120s",
        timeout=130,
        check=False,
    )


def test_a_pre_pulled_image_starts_faster(
    real_container: Make,
    wait_phase: Wait,
    kubectl: Any,
    namespace: str,
    unique_image: str,
) -> None:
    tag = unique_image
    digest = crane("digest", tag)
    repository = tag.rsplit(":", 1)[0]
    image = f"rn-prepull-{SESSION_ID}"
    entry = {
        "apiVersion": "jupytercontainers.io/v1alpha1",
        "kind": "JupyterImage",
        "metadata": {"name": image},
        "spec": {"image": tag},
    }
    kubectl("apply", "-f", "-", input=json.dumps(entry))
    try:
        beside = running_users(repository)
        remove_from_node(repository)
        cold = timed_start("cold", image, real_container, wait_phase, kubectl, namespace)
        _stop("cold", kubectl, namespace, wait_phase)

        remove_from_node(repository)
        body = json.dumps({"spec": {"prePull": True}})
        kubectl("patch", "jupyterimage", image, "--type=merge", "-p", body)
        ds = f"daemonset/jc-prepull-{image}"
        kubectl("wait", "--for=create", ds, "-n", IDENTITY_NAMESPACE, "--timeout=60s", timeout=70)
        kubectl("rollout", "status", ds, "-n", IDENTITY_NAMESPACE, "--timeout=300s", timeout=310)
        pods = _json(
            kubectl,
            "get",
            "pods",
            "-n",
            IDENTITY_NAMESPACE,
            "--field-selector",
            f"spec.nodeName={NODE_NAME}",
        )["items"]
        ours = [p for p in pods if p["metadata"]["name"].startswith(f"jc-prepull-{image}")]
        assert [p["status"]["phase"] for p in ours] == ["Running"], ours
        # Present on the node before the container exists.
        assert present(digest), "pre-pull did not bring the image onto the node"
        deadline = time.monotonic() + 30
        while True:
            status = _json(kubectl, "get", "jupyterimage", image).get("status", {}).get("prePull")
            if status and status["readyNodes"] == status["desiredNodes"] > 0:
                break
            assert time.monotonic() < deadline, f"status.prePull: {status}"
            time.sleep(0.5)

        warm = timed_start("warm", image, real_container, wait_phase, kubectl, namespace)
        print(
            f"\npre-pull on the real node ({tag}):\n"
            f"  image absent:      create->Active {cold.create_to_active:6.1f} s, "
            f"scheduled->started {cold.scheduled_to_started:5.0f} s, pull {cold.pull:6.2f} s\n"
            f"  image pre-pulled:  create->Active {warm.create_to_active:6.1f} s, "
            f"scheduled->started {warm.scheduled_to_started:5.0f} s, pull {warm.pull:6.2f} s\n"
            f"  ratio (absent / pre-pulled): create->Active "
            f"{cold.create_to_active / warm.create_to_active:.1f}x, pull "
            f"{cold.pull / max(warm.pull, 0.001):.0f}x\n"
            f"  other containers of the image running on the node: {beside} "
            "(0: the first start also unpacked every layer)"
        )
        assert warm.pull < cold.pull
        assert warm.create_to_active < cold.create_to_active
    finally:
        kubectl("delete", "jupyterimage", image, "--ignore-not-found", check=False)
