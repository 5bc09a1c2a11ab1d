"""A small cache whose entries expire: the console's namespaces, each user's domains and identity.

An entry is kept for `seconds` after it was made. Expired entries are dropped whenever a new
one is stored, so a key used once (a user who signed in once) does not stay until the console
restarts. Pure: the clock is passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Expiring:
    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self.seconds = seconds
        self.clock = clock  # callers stamp `put` with it, so ages are on one clock
        self._entries: dict[str, tuple[float, Any]] = {}

    def get(self, key: str) -> tuple[bool, Any]:
        """(True, value) while the entry is fresh; (False, None) otherwise."""
        hit = self._entries.get(key)
        if hit is not None and self.clock() - hit[0] < self.seconds:
            return True, hit[1]
        return False, None

    def put(self, key: str, value: Any, made_at: float) -> None:
        """Store `value`, made at `made_at` (before the work that produced it began)."""
        now = self.clock()
        self._entries = {k: e for k, e in self._entries.items() if now - e[0] < self.seconds}
        self._entries[key] = (made_at, value)

    def __len__(self) -> int:
        return len(self._entries)
