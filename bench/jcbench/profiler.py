"""py-spy attached to the operator for one phase (a bench-only tool: `make profilers`)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path


class Profiler:
    """`py-spy record` of a running process until stopped; writes a speedscope or SVG file."""

    def __init__(self, pid: int, out: Path, *, rate: int = 50) -> None:
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        fmt = "speedscope" if out.suffix == ".json" else "flamegraph"
        self.out = out
        self.proc = subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(pid),
                "--rate",
                str(rate),
                "--format",
                fmt,
                "--output",
                str(out),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(out.with_suffix(".log")).open("wb"),
        )

    def stop(self) -> None:
        # py-spy writes its output on SIGINT, as after Ctrl-C.
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=120)
