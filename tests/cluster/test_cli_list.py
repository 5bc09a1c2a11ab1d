"""`kubectl jupyter list` and `describe` as users run them: My / Shared with me, filters, paging.

Users are impersonated with `--as` (and `--as-group`), so "My" and "Shared with me" come
from the created-by the webhook records and the bundles' grants, as on a real cluster.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.cluster.cli_fixtures import (  # fixtures are used by name
    Plugin,
    bundle_manifest,
    jup,
    scratch_namespace,
    user_roles,
    users,
    webhooks_ready,
)

pytestmark = pytest.mark.cluster
__all__ = ["jup", "scratch_namespace", "user_roles", "users", "webhooks_ready"]

Wait = Callable[..., dict[str, Any]]


def rows(out: str) -> list[list[str]]:
    """The table rows under the header line, split on runs of 2+ spaces."""
    lines = out.splitlines()
    header = next(
        i for i, line in enumerate(lines) if line.startswith("NAME") or line.startswith("DOMAIN")
    )
    table = []
    for line in lines[header + 1 :]:
        if not line.strip() or line.startswith("Page "):
            break
        table.append(re.split(r"\s{2,}", line.strip()))
    return table


def names(out: str) -> list[str]:
    return [row[0] for row in rows(out)]


@pytest.fixture
def bundles(cluster: Any, namespace: str, users: tuple[str, ...]) -> None:
    """team (alice, the conftest's), bobs (grants alice view), bob-private, ds (a group)."""
    for manifest in (
        bundle_manifest("bobs", "bob", {"users": ["alice"], "permissions": ["view"]}),
        bundle_manifest("bob-private", "bob"),
        bundle_manifest("ds", "carol", {"groups": ["data-science"], "permissions": ["view"]}),
    ):
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=manifest)


def test_my_and_shared_with_impersonated_users(jup: Plugin, bundle: str, bundles: None) -> None:
    jup("create", "a-one", "--bundle", "team", "--no-start", as_user="alice")
    jup("create", "a-two", "--bundle", "team", "--no-start", as_user="alice")
    jup("create", "b-shared", "--bundle", "bobs", "--no-start", as_user="bob")
    jup("create", "b-private", "--bundle", "bob-private", "--no-start", as_user="bob")
    jup("create", "c-group", "--bundle", "ds", "--no-start", as_user="carol")

    mine = jup("list", as_user="alice").stdout
    assert mine.splitlines()[0].startswith("My Jupyter Containers")
    assert "user alice" in mine.splitlines()[0]
    assert names(mine) == ["a-one", "a-two"]

    shared = jup("list", "--shared", as_user="alice").stdout
    assert shared.splitlines()[0].startswith("Shared with me")
    # bob-private's bundle grants alice nothing: not shown; carol's needs the group.
    assert names(shared) == ["b-shared"]
    with_group = jup("list", "--shared", as_user="alice", as_groups=["data-science"]).stdout
    assert names(with_group) == ["b-shared", "c-group"]

    # bob owns "bobs" and "bob-private" but created what is in them: all "My", none shared.
    assert names(jup("list", as_user="bob").stdout) == ["b-private", "b-shared"]
    assert jup("list", "--shared", as_user="bob").stdout.splitlines()[1] == "No Jupyter containers."

    # JSON for scripts: the same selection, with the view and the user.
    data = jup.json("list", "--shared", as_user="alice")
    assert data["kind"] == "List"
    assert data["metadata"]["view"] == "Shared with me"
    assert data["metadata"]["user"] == "alice"
    assert [i["metadata"]["name"] for i in data["items"]] == ["b-shared"]
    assert data["items"][0]["metadata"]["annotations"]["jupytercontainers.io/created-by"] == "bob"


def test_columns_filters_and_paging(
    jup: Plugin,
    bundle: str,
    users: tuple[str, ...],
    wait_phase: Wait,
    scratch_namespace: str,
    cluster: Any,
) -> None:
    # alice may create pods in the other namespace (the webhook checks it for her).
    cluster.kubectl(
        "create",
        "rolebinding",
        "alice-edit",
        "--clusterrole=edit",
        "--user=alice",
        "-n",
        scratch_namespace,
    )
    jup("create", "nb-run", "--bundle", "team", "--instance-type", "test-small", as_user="alice")
    for name in ("nb-a", "nb-b", "other"):
        jup("create", name, "--bundle", "team", "--no-start", as_user="alice")
    jup(
        "create",
        "nb-away",
        "--bundle",
        "team",
        "--no-start",
        "--deploy-namespace",
        scratch_namespace,
        as_user="alice",
    )
    wait_phase("nb-run", "Active")
    for name in ("nb-a", "nb-b", "other", "nb-away"):
        wait_phase(name, "Stopped")

    out = jup("list", as_user="alice").stdout
    header = next(line for line in out.splitlines() if line.startswith("NAME"))
    assert header.split() == ["NAME", "STATUS", "INSTANCE", "NAMESPACE"]
    table = {row[0]: row for row in rows(out)}
    assert set(table) == {"nb-a", "nb-away", "nb-b", "nb-run", "other"}
    assert table["nb-run"][1] == "Active"
    assert "1 CPU" in table["nb-run"][2] and "2Gi" in table["nb-run"][2]
    assert table["nb-run"][3] == jup.namespace
    assert table["nb-away"][1] == "Stopped"
    assert table["nb-away"][3] == scratch_namespace
    assert out.splitlines()[-1] == "Page 1 of 1  (1-5 of 5)"

    assert names(jup("list", "--status", "Active", as_user="alice").stdout) == ["nb-run"]
    assert names(jup("list", "--status", "stopped", as_user="alice").stdout) == [
        "nb-a",
        "nb-away",
        "nb-b",
        "other",
    ]
    assert names(jup("list", "--search", "NB-", as_user="alice").stdout) == [
        "nb-a",
        "nb-away",
        "nb-b",
        "nb-run",
    ]
    assert names(jup("list", "--deploy-namespace", scratch_namespace, as_user="alice").stdout) == [
        "nb-away"
    ]
    none = jup("list", "--search", "zzz", as_user="alice").stdout
    assert none.splitlines()[1] == "No Jupyter containers match."

    page2 = jup("list", "--page-size", "2", "--page", "2", as_user="alice").stdout
    assert names(page2) == ["nb-b", "nb-run"]
    assert page2.splitlines()[-1] == "Page 2 of 3  (3-4 of 5)  next: --page 3"
    page3 = jup("list", "--page-size", "2", "--page", "3", as_user="alice").stdout
    assert names(page3) == ["other"]
    assert page3.splitlines()[-1] == "Page 3 of 3  (5-5 of 5)"
    beyond = jup("list", "--page-size", "2", "--page", "4", as_user="alice", expect=2)
    assert "--page 4: there are only 3 page(s) of 5." in beyond.stderr

    wide = jup("list", "-o", "wide", "--search", "nb-run", as_user="alice").stdout
    header = next(line for line in wide.splitlines() if line.startswith("NAME"))
    assert header.split() == [
        "NAME",
        "STATUS",
        "INSTANCE",
        "NAMESPACE",
        "VOLUME",
        "CREATED",
        "BY",
        "AGE",
        "ID",
    ]
    (row,) = rows(wide)
    uid = jup.json("describe", "nb-run")["metadata"]["uid"]
    assert row[-1] == uid
    assert row[4] == "No volume" and row[5] == "alice"

    by_name = jup("list", "-o", "name", "--status", "Active", as_user="alice").stdout
    assert by_name == "jupytercontainer.jupytercontainers.io/nb-run\n"


def test_failed_shows_its_error_in_the_list_and_describe(
    jup: Plugin, bundle: str, wait_phase: Wait
) -> None:
    jup(
        "create",
        "broken",
        "--bundle",
        "team",
        "--tag",
        "sim.jupytercontainers.io/scenario=crashloop",
        "--tag",
        "owner=data-team",
    )
    jc = wait_phase("broken", "Failed")
    # The operator may refine the message (e.g. the restart count) while the pod stays in
    # its crash loop, so it is compared by its fixed beginning and end.
    start, end = "JupyterLab keeps crashing (CrashLoopBackOff", "then start the container again."
    assert jc["status"]["message"].startswith(start) and jc["status"]["message"].endswith(end)
    (row,) = rows(jup("list").stdout)
    assert row[0] == "broken"
    assert row[1].startswith(f"Failed: {start}") and row[1].endswith(end)  # one line
    # -A adds the domain column; other tests' containers may fill the first page.
    everywhere = rows(jup("list", "-A", "--search", "broken", "--page-size", "500").stdout)
    (mine,) = [r for r in everywhere if r[:2] == [jup.namespace, "broken"]]
    assert mine[2].startswith(f"Failed: {start}") and mine[2].endswith(end)

    details = jup("describe", "broken").stdout.splitlines()
    fields = {
        line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in details if ":" in line[:12]
    }
    stripped = [line.strip() for line in details]
    assert fields["ID"] == jc["metadata"]["uid"]
    assert fields["Name"] == "broken"
    assert fields["Status"] == f"Failed ({jc['status']['reason']})"
    # The error under the badge, on its own line.
    assert any(line.startswith(start) and line.endswith(end) for line in stripped)
    assert fields["Bundle"] == "team"
    assert fields["Volume"] == "No volume"
    assert fields["Namespace"] == jup.namespace
    assert fields["Created by"].endswith("ago") or fields["Created by"].endswith("just now")
    assert fields["Tags"] == "owner=data-team"
    assert "sim.jupytercontainers.io/scenario=crashloop" in stripped

    as_yaml = jup("describe", "broken", "-o", "yaml").stdout
    assert "kind: JupyterContainer" in as_yaml and "managedFields" not in as_yaml


def test_describe_without_tags_and_unknown_name(jup: Plugin, bundle: str, wait_phase: Wait) -> None:
    jup("create", "plain", "--bundle", "team", "--no-start")
    wait_phase("plain", "Stopped")
    out = jup("describe", "plain").stdout
    assert "Tags:" not in out
    assert "Status:      Stopped" in out
    missing = jup("describe", "nope", expect=3)
    assert f"Jupyter container 'nope' not found in namespace '{jup.namespace}'." in missing.stderr
    assert f"kubectl jupyter list -n {jup.namespace}" in missing.stderr
