"""Which operator code a run measures: this checkout, or any commit (for before/after).

A commit is extracted with `git archive` into a cache directory, so runs never depend on
what the working tree (edited by others meanwhile) or the venv's editable install point at.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from jcbench.cluster import REPO

CACHE = Path.home() / ".cache/jupyter-containers/bench-src"


def _git(*args: str) -> bytes:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, check=True).stdout


def operator_source(ref: str | None) -> tuple[Path, str]:
    """(directory holding the jupyter_containers package, what it is)."""
    if ref is None:
        head = _git("rev-parse", "--short", "HEAD").decode().strip()
        dirty = _git("status", "--porcelain", "--", "operator").strip()
        return REPO / "operator", head + ("+working-tree-changes" if dirty else "")
    try:
        sha = _git("rev-parse", "--verify", f"{ref}^{{commit}}").decode().strip()
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"--operator-ref {ref!r} is not a commit of {REPO}") from exc
    dest = CACHE / sha
    if not (dest / "operator/jupyter_containers").is_dir():
        archive = _git("archive", "--format=tar", sha, "operator")
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(dest, filter="data")
    return dest / "operator", sha[:7]
