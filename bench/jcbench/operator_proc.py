"""The operator as a subprocess, as in production: start, health, metrics, memory, stop."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from jcbench.cluster import REPO

#: Failed reconciles (a request refused or unanswered, or an exception): a run must have none.
RECONCILE_ERRORS = "jupyter_containers_reconcile_errors_total"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in KiB, from /proc/PID/status."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        # The command name (field 2) may hold spaces; the fields after its ")" are fixed.
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class OperatorProcess:
    def __init__(
        self,
        env: Mapping[str, str],
        log_dir: Path,
        *,
        webhook_managed: bool,
        cert_dir: Path | None = None,
        webhook_port: int | None = None,
        extra_env: Mapping[str, str] | None = None,
        role: str | None = None,
    ) -> None:
        #: `--role` of the process (shell.roles); None: the operator's default, all in one.
        self.role = role
        self.health_port = free_port()
        self.metrics_port = free_port()
        self.env = {
            **env,
            "JC_WEBHOOK_MANAGED": "true" if webhook_managed else "false",
            "JC_WEBHOOK_PORT": str(webhook_port or free_port()),
            "JC_WEBHOOK_HOST": "127.0.0.1",
            "JC_HEALTH_PORT": str(self.health_port),
            "JC_METRICS_PORT": str(self.metrics_port),
            "JC_WATCH_NAMESPACES": "",
            # The product's 600 s is a user's bound; in a burst of 5000 this cluster's
            # controller-manager (20 QPS) alone holds pods longer (the floor's creation -> pod
            # Ready p99 was 837 s), and 421 containers failed the start at 600 s (session 9).
            # The benchmark measures the operator, so the deadline must never fire here.
            "JC_START_DEADLINE_SECONDS": "86400",
            "PYTHONUNBUFFERED": "1",
            **({"JC_WEBHOOK_CERT_DIR": str(cert_dir)} if cert_dir else {}),
            **(extra_env or {}),
        }
        self.log_name = "operator"
        self.log_dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.started_at = 0.0
        self.peak_kib: list[int] = []  # VmHWM of each process when it stopped
        self.errors: list[float | None] = []  # its reconcile errors when it stopped

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 120) -> float:
        """Start and wait until /healthz answers; returns the seconds that took."""
        assert self.proc is None
        self.starts += 1
        log = (self.log_dir / f"{self.log_name}-{self.starts}.log").open("wb")
        self.started_at = time.time()
        # JCBENCH_OPERATOR_WRAP: a command the operator runs under, in the same process
        # (e.g. "memray run -o /tmp/{name}-{n}.bin" for an allocation profile). {name}: the
        # process (operator, admission), so the two processes never write one file.
        wrap = (
            os.environ.get("JCBENCH_OPERATOR_WRAP", "")
            .replace("{n}", str(self.starts))
            .replace("{name}", self.log_name)
        )
        command = [sys.executable, "-m", "jupyter_containers.main"]
        if wrap:
            command = [sys.executable, "-m", *shlex.split(wrap), "-m", "jupyter_containers.main"]
        if self.role is not None:
            command += ["--role", self.role]
        self.proc = subprocess.Popen(
            command,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        url = f"http://127.0.0.1:{self.health_port}/healthz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"operator exited; see {log.name}")
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return time.time() - self.started_at
            time.sleep(0.1)
        raise RuntimeError(f"operator not healthy after {timeout}s; see {log.name}")

    def memory(self) -> dict[str, int]:
        return proc_status(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode()

    def metric(self, name: str) -> float | None:
        """An unlabelled metric of the running process (None when it has none)."""
        for line in self.metrics().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def reconcile_errors(self) -> float | None:
        return self.metric(RECONCILE_ERRORS)

    def phase_count(self, phase: str) -> int:
        m = re.search(
            rf'^jupyter_containers_by_phase\{{phase="{phase}"\}} ([0-9.e+]+)$',
            self.metrics(),
            re.MULTILINE,
        )
        return int(float(m.group(1))) if m else 0

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(OSError):
            self.peak_kib.append(self.memory()["VmHWM"])
        errors: float | None = None
        with contextlib.suppress(OSError):
            errors = self.reconcile_errors()
        self.errors.append(errors)
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
