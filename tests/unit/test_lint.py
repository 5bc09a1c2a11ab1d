"""The code base stays ruff-clean: checked in the test suite, so CI enforces it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PATHS = [p for p in ("operator", "tests", "bench") if (REPO / p).exists()]


@pytest.mark.parametrize(
    "args", [["check"], ["format", "--check"]], ids=["ruff-check", "ruff-format"]
)
def test_ruff(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *args, *PATHS],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
