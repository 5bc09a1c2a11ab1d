"""Where the operator's time went: a py-spy speedscope profile summed by function (pure)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SITE = "site-packages/"


def _frame_name(frame: Mapping[str, Any]) -> str:
    path = str(frame.get("file") or "?")
    if SITE in path:
        path = path.split(SITE, 1)[1]
    elif "/jupyter_containers/" in path:
        path = "jupyter_containers/" + path.split("/jupyter_containers/", 1)[1]
    return f"{frame.get('name')} ({path})"


def summarize(path: Path, top: int = 25) -> dict[str, Any]:
    """Self and inclusive sample shares of the busiest functions, idle samples excluded."""
    data = json.loads(path.read_text())
    frames = [_frame_name(f) for f in data["shared"]["frames"]]
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0.0
    for profile in data["profiles"]:
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            if not stack:
                continue
            names = [frames[i] for i in stack]
            total += weight
            own[names[-1]] += weight
            for name in set(names):
                inclusive[name] += weight
    share = (lambda c: round(100 * c / total, 1)) if total else (lambda c: 0.0)
    return {
        "samples": total,
        "self_percent": [(n, share(c)) for n, c in own.most_common(top)],
        "inclusive_percent": [(n, share(c)) for n, c in inclusive.most_common(top)],
    }


def render(path: Path, top: int = 25) -> str:
    s = summarize(path, top)
    lines = [f"{path}: {s['samples']:.0f} samples (active only)", "", "inclusive %:"]
    lines += [f"  {p:5.1f}  {n}" for n, p in s["inclusive_percent"]]
    lines += ["", "self %:"]
    lines += [f"  {p:5.1f}  {n}" for n, p in s["self_percent"]]
    return "\n".join(lines)
