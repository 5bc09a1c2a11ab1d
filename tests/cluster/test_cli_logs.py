"""`logs`, `events` and `open` on the local cluster.

kwok serves the simulated JupyterLab log of tools/kwok/logs (fixed timestamps on
2026-01-01, previous container on 2025-12-31), so time ranges are asserted line by line.
`open` runs a real `kubectl port-forward`; kwok's pods have no network, so what is
checked is what can be observed: the URL with the base URL and the token, and that the
port-forward process started (and stops with the command).
"""

from __future__ import annotations

import base64
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.cli_fixtures import (  # fixtures are used by name
    REPO,
    Plugin,
    jup,
    scratch_namespace,
    user_roles,
    users,
    webhooks_ready,
)
from tests.cluster.conftest import get_jc

pytestmark = pytest.mark.cluster
__all__ = ["jup", "scratch_namespace", "user_roles", "users", "webhooks_ready"]

Wait = Callable[..., dict[str, Any]]
LOG = (REPO / "tools" / "kwok" / "logs" / "jupyterlab.log").read_text().splitlines()
PREVIOUS = (REPO / "tools" / "kwok" / "logs" / "previous.log").read_text().splitlines()


def cri(lines: list[str]) -> list[tuple[str, str]]:
    """(timestamp, text) of CRI log lines ('TIME STREAM TAG text')."""
    return [(line.split(" ", 3)[0], line.split(" ", 3)[3]) for line in lines]


@pytest.fixture
def active(jup: Plugin, bundle: str, wait_phase: Wait) -> dict[str, Any]:
    jup("create", "lab", "--bundle", "team")
    return wait_phase("lab", "Active")


def test_logs_whole_and_time_ranges(jup: Plugin, active: dict[str, Any], tmp_path: Path) -> None:
    everything = jup("logs", "lab").stdout.splitlines()
    assert everything == [text for _, text in cri(LOG)]

    ranged = jup(
        "logs", "lab", "--since-time", "2026-01-01T00:00:04Z", "--until", "2026-01-01T00:00:20Z"
    ).stdout.splitlines()
    expected = [
        text
        for stamp, text in cri(LOG)
        if "2026-01-01T00:00:04" <= stamp < "2026-01-01T00:00:20.000000001"
    ]
    assert ranged == expected
    assert ranged[0].endswith("Serving notebooks from local directory: /home/jovyan")
    assert ranged[-1].endswith("302 GET /lab (@10.244.0.1) 0.61ms")
    assert not any("Kernel started" in line for line in ranged)  # 00:00:20.118 is after --until

    stamped = jup("logs", "lab", "--until", "2026-01-01T00:00:01Z", "--timestamps").stdout
    # Only the first two simulated lines (00:00:00.000 and 00:00:00.412) are before 00:00:01.
    assert stamped.splitlines() == [f"{stamp} {text}" for stamp, text in cri(LOG)[:2]]
    # The simulated lines are from January 2026: none is newer than ten minutes.
    assert jup("logs", "lab", "--since", "10m").stdout == ""
    assert jup("logs", "lab", "--tail", "1").stdout.splitlines() == [cri(LOG)[-1][1]]

    target = tmp_path / "lab.log"
    saved = jup("logs", "lab", "--download", str(target))
    assert saved.stdout == ""
    assert f"Saved {len(LOG)} line(s) of 'lab' to {target}." in saved.stderr
    assert target.read_text().splitlines() == everything

    bad = jup("logs", "lab", "--since", "ten minutes", expect=2)
    assert "--since 'ten minutes' is not a duration" in bad.stderr


def test_logs_follow_streams_and_stops_at_until(jup: Plugin, active: dict[str, Any]) -> None:
    # kwok's simulated log is followed (it never ends); --until ends the stream.
    out = jup("logs", "lab", "--follow", "--until", "2026-01-01T00:00:02Z", timeout=30).stdout
    assert out.splitlines()[-1].endswith("jupyterlab | extension was successfully linked.")


def test_logs_of_a_failed_container_and_the_previous_one(
    jup: Plugin, bundle: str, wait_phase: Wait
) -> None:
    jup(
        "create",
        "crashy",
        "--bundle",
        "team",
        "--tag",
        "sim.jupytercontainers.io/scenario=crashloop",
    )
    wait_phase("crashy", "Failed")
    assert jup("logs", "crashy").stdout.splitlines() == [text for _, text in cri(LOG)]
    previous = jup("logs", "crashy", "--previous").stdout.splitlines()
    assert previous == [text for _, text in cri(PREVIOUS)]
    assert previous[-1] == "Killed"


def test_logs_of_a_stopped_container_say_why_there_are_none(
    jup: Plugin, bundle: str, wait_phase: Wait
) -> None:
    jup("create", "idle", "--bundle", "team", "--no-start")
    wait_phase("idle", "Stopped")
    out = jup("logs", "idle", expect=1)
    assert "'idle' has no pod (Stopped)" in out.stderr
    assert "kubectl jupyter start idle" in out.stderr


def test_events_newest_first_with_warning_count(jup: Plugin, bundle: str, wait_phase: Wait) -> None:
    jup(
        "create",
        "crashy",
        "--bundle",
        "team",
        "--tag",
        "sim.jupytercontainers.io/scenario=crashloop",
    )
    wait_phase("crashy", "Failed")
    data = jup.json("events", "crashy")
    items = data["items"]
    warnings = sum(1 for e in items if e.get("type") == "Warning")
    assert data["metadata"] == {"warnings": warnings, "total": len(items)}
    assert warnings >= 1 and len(items) > warnings
    kinds = {e["involvedObject"]["kind"] for e in items}
    assert {"Pod", "JupyterContainer"} <= kinds
    times = [
        e.get("lastTimestamp") or e.get("eventTime") or e["metadata"]["creationTimestamp"]
        for e in items
    ]
    stamps = [re.sub(r"\.\d+", "", t) for t in times]
    assert stamps == sorted(stamps, reverse=True)  # newest first

    table = jup("events", "crashy").stdout.splitlines()
    assert table[0] == f"Kubernetes events {warnings}/{len(items)}  (warnings/total)"
    assert table[1].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert any(" Warning " in line and "jupytercontainer/crashy" in line for line in table[2:])

    only = jup.json("events", "crashy", "--type", "warning")["items"]
    assert len(only) == warnings and all(e["type"] == "Warning" for e in only)


def test_open_prints_the_url_with_the_token_and_runs_port_forward(
    jup: Plugin, active: dict[str, Any], cluster: Any, namespace: str
) -> None:
    status = get_jc(cluster, namespace, "lab")["status"]
    secret = cluster.kubectl(
        "get", "secret", status["tokenSecret"], "-n", namespace, "-o", "jsonpath={.data.token}"
    ).stdout
    token = base64.b64decode(secret).decode()
    proc = subprocess.Popen(
        jup.command("open", "lab"),
        env=jup.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        match = re.fullmatch(
            rf"http://127\.0\.0\.1:(\d+)/jupyter/{namespace}/lab/lab\?token=(.+)", url
        )
        assert match, url
        assert match.group(2) == token
        children = subprocess.run(
            ["ps", "-ww", "-o", "pid=,args=", "--ppid", str(proc.pid)],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.splitlines()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    forwards = [c for c in children if "port-forward" in c]
    assert len(forwards) == 1, (children, err)
    assert f"service/{status['serviceName']}" in forwards[0] and ":8888" in forwards[0]
    forward_pid = int(forwards[0].split()[0])
    assert proc.returncode == 0, err
    assert "Ctrl-C stops." in err
    # The port-forward ends with the command (no orphan left behind).
    deadline = time.monotonic() + 10
    while Path(f"/proc/{forward_pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not Path(f"/proc/{forward_pid}").exists()


def test_open_refuses_a_container_that_is_not_active(
    jup: Plugin, bundle: str, wait_phase: Wait
) -> None:
    jup("create", "idle", "--bundle", "team", "--no-start")
    wait_phase("idle", "Stopped")
    out = jup("open", "idle", expect=1)
    assert "'idle' is Stopped: JupyterLab opens when it is Active." in out.stderr
    assert "kubectl jupyter start idle" in out.stderr
