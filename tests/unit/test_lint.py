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


#: The operator package outside the CLI (the console included): no function longer than this
#: (ruff's C901 caps their complexity at 12, pyproject.toml).
MAX_FUNCTION_LINES = 60
PACKAGE = REPO / "operator" / "jupyter_containers"


def _long_functions() -> list[str]:
    import ast

    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "cli" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    where = path.relative_to(REPO)
                    found.append(f"{where}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_function_of_the_operator_is_over_60_lines() -> None:
    assert list(PACKAGE.rglob("*.py")), "the package moved: update PACKAGE"
    assert _long_functions() == []
