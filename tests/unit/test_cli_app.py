"""The command tree without a cluster: help with examples, usage errors, global flags."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from jupyter_containers.cli.app import app
from jupyter_containers.cli.errors import ExitCode

COMMANDS = [
    "list",
    "describe",
    "logs",
    "events",
    "watch",
    "open",
    "create",
    "configure",
    "start",
    "terminate",
    "restart",
    "delete",
]
runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), prog_name="kubectl jupyter", env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_root_help_lists_every_command_and_exit_codes() -> None:
    code, out = invoke("--help")
    assert code == 0
    for command in COMMANDS:
        assert f" {command} " in out
    assert "3 not found" in out and "4 confirmation declined" in out


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_examples_and_the_cluster_flags(command: str) -> None:
    code, out = invoke(command, "--help")
    assert code == 0
    assert "Examples:" in out
    assert f"kubectl jupyter {command}" in out
    for flag in ("--namespace", "--context", "--kubeconfig", "--as ", "--as-group"):
        assert flag in out, f"{command} --help lacks {flag}"


def test_usage_errors_exit_2() -> None:
    code, out = invoke("list", "--status", "Sleeping")
    assert code == ExitCode.USAGE
    assert "Sleeping" in out
    code, _ = invoke("describe")
    assert code == ExitCode.USAGE
    code, _ = invoke("no-such-command")
    assert code == ExitCode.USAGE


def test_an_unreachable_cluster_is_exit_1_with_a_message(tmp_path) -> None:  # type: ignore[no-untyped-def]
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    code, out = invoke("list", "--kubeconfig", str(kubeconfig))
    assert code == ExitCode.ERROR
    assert "Cannot reach the Kubernetes API server" in out
    code, out = invoke("--kubeconfig", str(kubeconfig), "--context", "nope", "list")
    assert code == ExitCode.ERROR
    assert "Context 'nope' not found" in out


def test_console_script_runs_as_kubectl_plugin() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from jupyter_containers.cli import main; sys.exit(main())",
            "--version",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("kubectl-jupyter ")


def test_kubectl_plugin_completion_speaks_cobra() -> None:
    from jupyter_containers.cli.completion import complete

    lines = complete(["__complete", "de"])
    assert lines[-1] == ":4"
    assert [line.split("\t")[0] for line in lines[:-1]] == ["describe", "delete"]
    flags = complete(["__complete", "list", "--s"])
    assert (
        "--shared\tShared with me: containers others created in bundles that grant you access."
        in (flags)
    )
    assert [line.split("\t")[0] for line in flags[:-1]] == ["--shared", "--status", "--search"]
