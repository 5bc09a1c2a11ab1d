"""Output: API error messages, quota cost lines, badges and plain output off a terminal."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from lightkube import ApiError
from rich.console import Console

from jupyter_containers.api import rules
from jupyter_containers.api.models import InstanceTypeSpec, VolumeSpec
from jupyter_containers.cli import render
from jupyter_containers.cli.cost import cost_lines
from jupyter_containers.cli.errors import ExitCode, NotFoundError, api_messages, from_api_error
from jupyter_containers.core.quota import demand


def api_error(status: dict[str, Any]) -> ApiError:
    request = httpx2.Request("POST", "https://api.example/apis/x")
    response = httpx2.Response(status["code"], json={"kind": "Status", **status}, request=request)
    return ApiError(request=request, response=response)


def test_cel_cause_becomes_the_manual_message() -> None:
    err = api_error(
        {
            "code": 422,
            "reason": "Invalid",
            "message": 'JupyterContainer.jupytercontainers.io "nb" is invalid: ...',
            "details": {
                "causes": [
                    {
                        "reason": "FieldValueForbidden",
                        "message": f"Forbidden: {rules.MSG_STOP_BEFORE_CONFIGURING}",
                        "field": "<nil>",
                    },
                    {
                        "reason": "FieldValueInvalid",
                        "message": 'Invalid value: "string": ' + rules.MSG_BUNDLE_IMMUTABLE,
                        "field": "spec.bundle",
                    },
                ]
            },
        }
    )
    assert api_messages(err) == [rules.MSG_STOP_BEFORE_CONFIGURING, rules.MSG_BUNDLE_IMMUTABLE]


def test_webhook_denial_prefix_is_dropped() -> None:
    err = api_error(
        {
            "code": 422,
            "reason": "Invalid",
            "message": 'admission webhook "jc.jupytercontainers.io" denied the request: '
            + rules.MSG_INVALID_VOLUME_TYPE,
        }
    )
    assert from_api_error(err, what="x").message == rules.MSG_INVALID_VOLUME_TYPE


def test_duplicate_and_not_found() -> None:
    exists = api_error({"code": 409, "reason": "AlreadyExists", "message": "already exists"})
    assert from_api_error(exists, what="x").message == rules.MSG_DUPLICATE_NAME
    missing = api_error({"code": 404, "reason": "NotFound", "message": "nope"})
    translated = from_api_error(missing, what="Jupyter container 'nb'", domain="team")
    assert isinstance(translated, NotFoundError)
    assert translated.exit_code == ExitCode.NOT_FOUND
    assert translated.message == "Jupyter container 'nb' not found in namespace 'team'."


def test_cost_lines_use_the_webhooks_demand() -> None:
    pod, storage = demand(
        "large",
        InstanceTypeSpec(cpu="4", memory="16Gi", requestRatio=0.5),
        VolumeSpec(type="OnDemandPVC", maxSize="5Gi"),
        include_volume=True,
    )
    quotas = [
        {
            "metadata": {"name": "team"},
            "spec": {
                "hard": {"limits.cpu": "6", "requests.memory": "10Gi", "requests.storage": "8Gi"}
            },
            "status": {
                "hard": {"limits.cpu": "6", "requests.memory": "10Gi", "requests.storage": "8Gi"},
                "used": {"limits.cpu": "3", "requests.memory": "1Gi", "requests.storage": "0"},
            },
        },
        {
            "metadata": {"name": "pods-only"},
            "spec": {"hard": {"requests.storage": "1Gi"}, "scopes": ["NotBestEffort"]},
            "status": {"hard": {"requests.storage": "1Gi"}, "used": {}},
        },
    ]
    lines = {(line.quota, line.resource): line for line in cost_lines(quotas, pod, storage)}
    assert set(lines) == {
        ("team", "limits.cpu"),
        ("team", "requests.memory"),
        ("team", "requests.storage"),
    }
    cpu = lines[("team", "limits.cpu")]
    assert (cpu.requested, cpu.available, cpu.fits) == (Decimal(4), Decimal(3), False)
    memory = lines[("team", "requests.memory")]
    assert memory.shown(memory.requested) == "8Gi"
    assert memory.fits
    assert lines[("team", "requests.storage")].shown(Decimal(5 * 2**30)) == "5Gi"


def plain(renderable: Any) -> str:
    out = Console(file=io.StringIO(), width=200, color_system=None)
    out.print(renderable)
    return out.file.getvalue()  # type: ignore[attr-defined]


def test_badges_have_the_phase_colours() -> None:
    assert render.badge("Active").style == "bold green"
    assert render.badge("Starting").style == "bold yellow"
    assert render.badge("Stopped").style == "bold grey50"
    assert render.badge("Failed").style == "bold red"
    failed = render.status_cell(
        {"status": {"phase": "Failed", "message": "OOMKilled: raise memory"}}
    )
    assert failed.plain == "Failed: OOMKilled: raise memory"


def test_no_colour_off_a_terminal_or_with_no_color(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    render.show(render.badge("Active"))
    assert capsys.readouterr().out == "Active\n"
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("FORCE_COLOR", "1")
    forced = render.console()
    assert forced.no_color


def test_tables_off_a_terminal_have_no_trailing_padding(capsys: pytest.CaptureFixture[str]) -> None:
    table = render.events_table(
        [
            {
                "type": "Warning",
                "reason": "BackOff",
                "message": "short",
                "involvedObject": {"kind": "Pod", "name": "p"},
            },
            {
                "type": "Normal",
                "reason": "Pulled",
                "message": "x" * 80,
                "involvedObject": {"kind": "Pod", "name": "p"},
            },
        ],
        now=datetime.now(UTC),
    )
    render.show(table)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert all(line == line.rstrip() for line in lines)
    assert "Warning" in lines[1] and lines[1].endswith("short")


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("phase", "sgr"),
    [("Active", "32"), ("Starting", "33"), ("Stopped", "38;5;244"), ("Failed", "31")],
)
def test_colours_on_a_terminal_and_none_with_no_color(
    monkeypatch: pytest.MonkeyPatch, phase: str, sgr: str
) -> None:
    for var in ("NO_COLOR", "FORCE_COLOR", "COLUMNS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    screen = FakeTerminal()
    monkeypatch.setattr("sys.stdout", screen)
    render.console().print(render.badge(phase))
    assert f"\x1b[1;{sgr}m{phase}" in screen.getvalue()

    monkeypatch.setenv("NO_COLOR", "1")
    plain_screen = FakeTerminal()
    monkeypatch.setattr("sys.stdout", plain_screen)
    render.console().print(render.badge(phase))
    assert f";{sgr}m" not in plain_screen.getvalue() and phase in plain_screen.getvalue()


def test_details_show_the_image_and_what_the_attempt_runs() -> None:
    from datetime import UTC, datetime

    from rich.console import Console

    from jupyter_containers.cli import render

    jc = {
        "metadata": {"name": "nb", "namespace": "d", "uid": "u"},
        "spec": {"bundle": "team", "image": "scipy"},
        "status": {"phase": "Active", "image": "r/scipy:1@sha256:" + "0" * 64},
    }
    out = Console(width=200)
    with out.capture() as captured:
        out.print(render.details(jc, datetime(2026, 1, 1, tzinfo=UTC)))
    line = next(line for line in captured.get().splitlines() if line.startswith("Image:"))
    assert line.split(None, 1)[1].startswith("scipy (r/scipy:1@sha256:")
    without = {**jc, "spec": {"bundle": "team"}, "status": {"phase": "Stopped"}}
    with out.capture() as captured:
        out.print(render.details(without, datetime(2026, 1, 1, tzinfo=UTC)))
    assert "Image:" not in captured.get()
