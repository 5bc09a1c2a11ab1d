"""Logs time ranges, event matching, the JupyterLab URL and port-forward command (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jupyter_containers.cli.connect import base_url_of, lab_url, port_forward_command, service_port
from jupyter_containers.cli.errors import UsageError
from jupyter_containers.cli.logs import log_params, newest_first, related, until_filter

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LINES = [
    "2026-01-01T00:00:01.000000000Z first",
    "2026-01-01T00:00:04.001000000Z second line",
    "2026-01-01T00:00:20.000000000Z third",
]


def test_until_stops_at_the_first_later_line_and_strips_timestamps() -> None:
    until = datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)
    assert list(until_filter(LINES, until, keep_timestamps=False)) == ["first", "second line"]
    assert list(until_filter(LINES, None, keep_timestamps=True)) == LINES
    assert list(until_filter(["no timestamp here"], until, keep_timestamps=False)) == [
        "no timestamp here"
    ]


def test_log_params() -> None:
    params = log_params(
        container=None,
        since=None,
        since_time="2026-01-01T00:00:04Z",
        follow=True,
        previous=True,
        tail=5,
        now=NOW,
    )
    assert params == {
        "timestamps": "true",
        "sinceTime": "2026-01-01T00:00:04Z",
        "follow": "true",
        "previous": "true",
        "tailLines": 5,
    }
    assert log_params(
        container="c",
        since="90s",
        since_time=None,
        follow=False,
        previous=False,
        tail=None,
        now=NOW,
    ) == {"timestamps": "true", "container": "c", "sinceSeconds": 90}
    with pytest.raises(UsageError, match="--since and --since-time"):
        log_params(
            container=None,
            since="1m",
            since_time="1m",
            follow=False,
            previous=False,
            tail=None,
            now=NOW,
        )


JC = {
    "metadata": {"name": "nb", "namespace": "team"},
    "status": {"serviceName": "jc-nb", "pvcName": "jc-nb-home", "podName": "jc-nb-7d9-abc"},
}


def event(kind: str, name: str, uid: str | None = None, **more: str) -> dict:
    return {"involvedObject": {"kind": kind, "name": name, "uid": uid, **more}}


@pytest.mark.parametrize(
    ("ev", "expected"),
    [
        (event("JupyterContainer", "nb", namespace="team"), True),
        (event("JupyterContainer", "nb-2", namespace="team"), False),
        (event("Pod", "jc-nb-7d9-old"), True),  # a pod of an earlier attempt
        (event("ReplicaSet", "jc-nb-7d9"), True),
        (event("Deployment", "jc-nb"), True),
        (event("Pod", "jc-nb2-7d9-abc"), False),  # another container's pod
        (event("PersistentVolumeClaim", "jc-nb-home"), True),
        (event("PersistentVolumeClaim", "jc-other-home"), False),
        (event("Pod", "renamed", uid="u1"), True),
    ],
)
def test_related_events(ev: dict, expected: bool) -> None:
    objects = {"uids": {"u1"}, "PersistentVolumeClaim": {"jc-nb-home"}}
    assert related(ev, JC, objects) is expected


def test_newest_first() -> None:
    events = [
        {"reason": "old", "lastTimestamp": "2026-01-01T00:00:01Z"},
        {"reason": "new", "eventTime": "2026-01-01T00:00:09.000001Z"},
        {"reason": "mid", "series": {"lastObservedTime": "2026-01-01T00:00:05Z"}},
    ]
    assert [e["reason"] for e in newest_first(events)] == ["new", "mid", "old"]


def test_base_url_from_the_deployment_else_the_default_template() -> None:
    deployment = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"args": ["start-notebook.py", "--ServerApp.base_url=/custom/team/nb"]}
                    ]
                }
            }
        }
    }
    assert base_url_of(deployment, JC) == "/custom/team/nb/"
    assert base_url_of(None, JC) == "/jupyter/team/nb/"


def test_lab_url_quotes_the_token() -> None:
    assert lab_url(4321, "/jupyter/team/nb/", "a+b/c") == (
        "http://127.0.0.1:4321/jupyter/team/nb/lab?token=a%2Bb%2Fc"
    )


def test_port_forward_command_carries_the_kubectl_flags() -> None:
    command = port_forward_command(
        "/bin/kubectl", ["--context", "c", "--as", "bob"], "team", "jc-nb", 0, 8888
    )
    assert command == [
        "/bin/kubectl",
        "--context",
        "c",
        "--as",
        "bob",
        "port-forward",
        "--namespace",
        "team",
        "--address",
        "127.0.0.1",
        "service/jc-nb",
        ":8888",
    ]
    assert service_port({"spec": {"ports": [{"port": 80}]}}) == 80
    assert service_port({}) == 8888
