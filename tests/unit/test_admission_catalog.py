"""Admission reads the catalog from the operator's watch, and LISTs only what it lacks."""

from __future__ import annotations

from typing import Any

from jupyter_containers.shell.admission import Lookups


class _Listed:
    def __init__(self, name: str, spec: dict[str, Any]) -> None:
        self._body = {"metadata": {"name": name}, "spec": spec}

    def to_dict(self) -> dict[str, Any]:
        return self._body


class CountingClient:
    """Answers LISTs of the catalog kinds, and counts them."""

    def __init__(
        self,
        instance_types: dict[str, Any],
        volumes: dict[str, Any],
        images: dict[str, Any] | None = None,
    ) -> None:
        self.lists: list[str] = []
        self._by_kind = {
            "InstanceType": instance_types,
            "Volume": volumes,
            "JupyterImage": images or {},
        }

    def list(self, kind: Any, **_: Any) -> Any:
        self.lists.append(kind.__name__)
        items = [_Listed(n, s) for n, s in self._by_kind[kind.__name__].items()]

        async def gen() -> Any:
            for item in items:
                yield item

        return gen()


SMALL = {"cpu": "1", "memory": "2Gi", "order": 1}
LARGE = {"cpu": "4", "memory": "8Gi", "order": 2}
HOME = {"type": "OnDemandPVC", "maxSize": "5Gi"}
LAB = {"image": "quay.io/jupyter/base-notebook:x"}
ALL = ["InstanceType", "Volume", "JupyterImage"]


def _watched(
    types: dict[str, Any], volumes: dict[str, Any], images: dict[str, Any] | None = None
) -> tuple[Any, ...]:
    return tuple({n: [s] for n, s in kind.items()} for kind in (types, volumes, images or {}))


async def test_known_names_come_from_the_watch_without_a_list() -> None:
    client = CountingClient({}, {})
    look = Lookups(client, _watched({"small": SMALL}, {"home": HOME}))  # type: ignore[arg-type]
    instance_types, volumes, _ = await look.catalog("small", "home")
    assert set(instance_types) == {"small"} and set(volumes) == {"home"}
    assert instance_types["small"].memory == "2Gi"
    assert client.lists == []


async def test_a_name_the_watch_lacks_is_listed() -> None:
    client = CountingClient({"small": SMALL, "large": LARGE}, {"home": HOME})
    look = Lookups(client, _watched({"small": SMALL}, {"home": HOME}))  # type: ignore[arg-type]
    instance_types, _, _ = await look.catalog("large", "home")
    assert set(instance_types) == {"small", "large"}
    assert client.lists == ALL


async def test_an_empty_watch_is_not_trusted() -> None:
    client = CountingClient({"small": SMALL}, {})
    look = Lookups(client, _watched({}, {}))  # type: ignore[arg-type]
    instance_types, _, _ = await look.catalog(None, None)
    assert set(instance_types) == {"small"}
    assert client.lists == ALL


async def test_without_a_watch_both_are_listed_once_per_request() -> None:
    client = CountingClient({"small": SMALL}, {"home": HOME})
    look = Lookups(client)  # type: ignore[arg-type]
    await look.catalog("small", "home")
    await look.catalog("small", "home")
    assert client.lists == ALL


async def test_an_image_the_watch_lacks_is_listed() -> None:
    client = CountingClient({"small": SMALL}, {}, {"lab": LAB})
    look = Lookups(client, _watched({"small": SMALL}, {}))  # type: ignore[arg-type]
    _, _, images = await look.catalog(None, None, "lab")
    assert images["lab"].pull_reference == LAB["image"]
    assert client.lists == ALL


async def test_a_known_image_comes_from_the_watch() -> None:
    client = CountingClient({}, {})
    look = Lookups(client, _watched({"small": SMALL}, {}, {"lab": LAB}))  # type: ignore[arg-type]
    _, _, images = await look.catalog(None, None, "lab")
    assert set(images) == {"lab"} and client.lists == []
