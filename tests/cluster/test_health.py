"""The liveness probe fails when the operator's watch streams stall, on a real API server.

A stall is made without touching the shared cluster: the operator reaches the API server
through a TCP relay in this test, which then stops relaying (a network partition: the
connections stay open, nothing arrives). The operator watches only a fresh namespace and
registers no webhooks, so it does not interfere with other tests.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.cluster

#: Above the API server's bookmark interval (about 60 s), so a healthy stream never reaches it.
STALL_SECONDS = 80


class Relay:
    """A TCP relay to the API server that can be frozen (data held back, connections kept)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.frozen = threading.Event()
        self.closing = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        with contextlib.suppress(OSError):
            while not self.closing.is_set():
                if self.frozen.is_set():
                    time.sleep(0.05)
                    continue
                ready, _, _ = select.select(list(peers), [], [], 0.1)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)

    def close(self) -> None:
        self.closing.set()
        for sock in [self.listener, *self.sockets]:
            with contextlib.suppress(OSError):
                sock.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthz(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except OSError as err:  # a blocked operator does not answer at all
        return 0, str(err)


@pytest.fixture
def relayed_kubeconfig(cluster: Any, tmp_path: Path) -> Iterator[tuple[Relay, Path]]:
    config = json.loads(cluster.kubectl("config", "view", "--raw", "--minify", "-o", "json").stdout)
    server = urllib.parse.urlsplit(config["clusters"][0]["cluster"]["server"])
    assert server.hostname and server.port, server
    relay = Relay((server.hostname, server.port))
    # Same host name, other port: the API server's certificate still matches.
    config["clusters"][0]["cluster"]["server"] = f"https://{server.hostname}:{relay.port}"
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    try:
        yield relay, path
    finally:
        relay.close()


def test_liveness_fails_when_the_watch_streams_stall(
    cluster: Any, crds: Any, namespace: str, relayed_kubeconfig: tuple[Relay, Path], tmp_path: Path
) -> None:
    relay, kubeconfig = relayed_kubeconfig
    health = _free_port()
    env = {k: v for k, v in cluster.env.items() if not k.startswith("JC_")}
    env.update(
        {
            "KUBECONFIG": str(kubeconfig),
            "JC_WATCH_NAMESPACES": namespace,
            "JC_WEBHOOK_MANAGED": "false",
            "JC_WEBHOOK_PORT": str(_free_port()),
            "JC_HEALTH_PORT": str(health),
            "JC_METRICS_PORT": str(_free_port()),
            "JC_WATCH_STALL_SECONDS": str(STALL_SECONDS),
            "PYTHONUNBUFFERED": "1",
        }
    )
    log = tmp_path / "operator.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_containers.main", "--verbose"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        # Healthy while the streams deliver. A stream is judged once it has had a bookmark,
        # which the API server sends about once a minute on each watch it caches.
        deadline = time.monotonic() + 150
        while (answer := _healthz(health))[0] == 0:  # not listening yet
            assert proc.poll() is None, log.read_text()[-5000:]
            assert time.monotonic() < deadline, f"{answer}\n{log.read_text()[-5000:]}"
            time.sleep(0.3)
        while True:
            assert answer[0] == 200, answer
            assert time.monotonic() < deadline, f"{answer}\n{log.read_text()[-5000:]}"
            report = json.loads(answer[1])["watch"]
            if report["withBookmarks"] >= 8:
                break
            time.sleep(1)
            answer = _healthz(health)
        # Events are outside the watch cache: no bookmarks, never judged.
        assert report["streams"] > report["withBookmarks"], report

        relay.frozen.set()
        frozen_at = time.monotonic()
        # kopf caches probe results for 10 s: the failure shows within that plus the threshold.
        while (answer := _healthz(health))[0] == 200:
            assert time.monotonic() - frozen_at < STALL_SECONDS + 30, answer
            time.sleep(0.5)
        assert answer[0] == 500, answer
        assert "delivered nothing (not even a bookmark)" in log.read_text()
        assert proc.poll() is None  # the probe reports; the kubelet does the restarting
    finally:
        relay.frozen.clear()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
