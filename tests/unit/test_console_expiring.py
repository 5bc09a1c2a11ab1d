"""The console's expiring cache: fresh entries are served, expired ones dropped when storing."""

from __future__ import annotations

import pytest

from jupyter_containers.console.expiring import Expiring


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("age", "fresh"),
    [(0.0, True), (4.9, True), (5.0, False), (60.0, False)],
)
def test_an_entry_is_served_while_younger_than_the_ttl(age: float, fresh: bool) -> None:
    clock = Clock()
    cache = Expiring(5.0, clock)
    cache.put("who:alice", "alice", clock.now)
    clock.now += age
    assert cache.get("who:alice") == ((True, "alice") if fresh else (False, None))


def test_its_age_counts_from_when_the_work_began() -> None:
    clock = Clock()
    cache = Expiring(5.0, clock)
    began = clock.now
    clock.now += 3.0  # the API call took 3 s
    cache.put("domains:alice:3", ["team-a"], began)
    clock.now += 2.5
    assert cache.get("domains:alice:3") == (False, None)


def test_storing_drops_every_expired_entry() -> None:
    clock = Clock()
    cache = Expiring(5.0, clock)
    for user in ("alice", "bob", "carol"):
        cache.put(f"who:{user}", user, clock.now)
    clock.now += 6.0
    cache.put("who:dave", "dave", clock.now)
    assert len(cache) == 1
    assert cache.get("who:dave") == (True, "dave")
    assert cache.get("who:alice") == (False, None)
