"""`kubectl_complete-jupyter`: completion of `kubectl jupyter ...` inside kubectl's own completion.

kubectl (1.26+) completes a plugin's arguments by running `kubectl_complete-<plugin>
__complete ARGS... INCOMPLETE` and reading cobra's format: one candidate per line
(`value<TAB>help`), then `:<directive>`. The candidates are the plugin's own (typer's
completion of commands, flags and container names).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import typer.main

# typer ships its own copy of click; its completion machinery lives there.
from typer._click.shell_completion import CompletionItem, ShellComplete

from jupyter_containers.cli.app import COMPLETE_VAR, app

#: cobra's ShellCompDirectiveNoFileComp: no file names for an unmatched word.
NO_FILE_COMPLETION = 4


class _Cobra(ShellComplete):
    name = "cobra"
    source_template = ""

    def source_vars(self) -> dict[str, Any]:
        return {}

    def get_completion_args(self) -> tuple[list[str], str]:  # pragma: no cover - unused
        return [], ""

    def format_completion(self, item: CompletionItem) -> str:
        help_text = (item.help or "").splitlines()[0] if item.help else ""
        return f"{item.value}\t{help_text}" if help_text else str(item.value)


def complete(args: Sequence[str]) -> list[str]:
    """The cobra-format lines for `kubectl jupyter ARGS...` (the last one is being typed)."""
    words = list(args)
    if words and words[0] == "__complete":
        words = words[1:]
    incomplete = words.pop() if words else ""
    command = typer.main.get_command(app)
    completer = _Cobra(command, {}, "kubectl-jupyter", COMPLETE_VAR)
    items = completer.get_completions(words, incomplete)
    return [completer.format_completion(item) for item in items] + [f":{NO_FILE_COMPLETION}"]


def main() -> int:
    sys.stdout.write("\n".join(complete(sys.argv[1:])) + "\n")
    return 0
