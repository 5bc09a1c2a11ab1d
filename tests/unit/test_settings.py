"""Operator settings from JC_* environment variables."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from jupyter_containers.core.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("JC_"):
            monkeypatch.delenv(key)


def test_defaults() -> None:
    s = load_settings()
    assert s.jupyter_image == "quay.io/jupyter/base-notebook:latest"
    assert s.field_manager == "jupyter-containers"
    assert s.start_deadline_seconds == 600
    assert s.unschedulable_grace_seconds == 60
    assert s.pvc_bind_grace_seconds == 120
    assert s.image_pull_grace_seconds == 0
    assert s.crash_restart_threshold == 1
    assert s.watch_namespaces == []
    assert s.domain_namespace_label == "jupytercontainers.io/deployable"
    assert s.base_url_template == "/jupyter/{domain}/{name}/"
    assert s.allow_origin == ""
    assert (s.metrics_port, s.health_port, s.webhook_port) == (8080, 8081, 9443)
    assert s.log_format == "text"
    assert s.default_storage_class is None
    assert s.webhook_host is None and s.webhook_cert_dir is None


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JC_START_DEADLINE_SECONDS", "30")
    monkeypatch.setenv("JC_CRASH_RESTART_THRESHOLD", "3")
    monkeypatch.setenv("JC_LOG_FORMAT", "json")
    monkeypatch.setenv("JC_DEFAULT_STORAGE_CLASS", "fast")
    monkeypatch.setenv("JC_JUPYTER_IMAGE", "registry.example/lab:4")
    s = load_settings()
    assert s.start_deadline_seconds == 30
    assert s.crash_restart_threshold == 3
    assert s.log_format == "json"
    assert s.default_storage_class == "fast"
    assert s.jupyter_image == "registry.example/lab:4"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("team-a", ["team-a"]), ("team-a, team-b,,team-c ", ["team-a", "team-b", "team-c"]), ("", [])],
    ids=["one", "comma-list-with-blanks", "empty-means-all"],
)
def test_watch_namespaces_comma_separated(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("JC_WATCH_NAMESPACES", raw)
    assert load_settings().watch_namespaces == expected


@pytest.mark.parametrize(
    ("var", "value", "field"),
    [
        ("JC_LOG_FORMAT", "xml", "log_format"),
        ("JC_CRASH_RESTART_THRESHOLD", "0", "crash_restart_threshold"),
        ("JC_START_DEADLINE_SECONDS", "0", "start_deadline_seconds"),
        ("JC_UNSCHEDULABLE_GRACE_SECONDS", "-1", "unschedulable_grace_seconds"),
        ("JC_METRICS_PORT", "70000", "metrics_port"),
        ("JC_BASE_URL_TEMPLATE", "/jupyter/{name}", "base_url_template"),
        ("JC_BASE_URL_TEMPLATE", "/jupyter/{user}/{name}/", "base_url_template"),
    ],
    ids=[
        "log-format",
        "threshold-zero",
        "deadline-zero",
        "negative-grace",
        "port-range",
        "base-url-no-slash",
        "base-url-unknown-placeholder",
    ],
)
def test_bad_values_name_the_field(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, field: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError) as err:
        load_settings()
    assert field in str(err.value)


def test_base_url_error_says_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JC_BASE_URL_TEMPLATE", "jupyter/{name}/")
    with pytest.raises(ValidationError, match="must start and end with '/'"):
        load_settings()


def test_base_url() -> None:
    s = Settings(base_url_template="/lab/{namespace}/{domain}/{name}/")
    assert s.base_url("team-a", "demo", "shared") == "/lab/shared/team-a/demo/"


@pytest.mark.parametrize(
    ("namespace", "labels", "domain", "open_"),
    [
        ("team-a", {}, "team-a", True),
        ("shared", {}, "team-a", False),
        ("shared", {"jupytercontainers.io/deployable": "true"}, "team-a", True),
        ("shared", {"jupytercontainers.io/deployable": "team-b, team-a"}, "team-a", True),
        ("shared", {"jupytercontainers.io/deployable": "team-b"}, "team-a", False),
        ("shared", {"jupytercontainers.io/deployable": "false"}, "team-a", False),
        ("shared", {"other": "true"}, "team-a", False),
    ],
    ids=["own", "unlabelled", "open-to-all", "listed", "not-listed", "false", "other-label"],
)
def test_namespace_open_to(
    namespace: str, labels: dict[str, str], domain: str, open_: bool
) -> None:
    assert Settings().namespace_open_to(namespace, labels, domain) is open_
