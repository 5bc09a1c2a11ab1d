"""The console's confirmation dialogs as prompts ("Yes, terminate it", "Yes, delete it")."""

from __future__ import annotations

import typer
from rich.text import Text

from jupyter_containers.cli import render
from jupyter_containers.cli.errors import DeclinedError


def confirm(warning: str, answer: str, *, yes: bool) -> None:
    """Show the warning and ask `answer?`; DeclinedError (exit 4) unless confirmed.

    The prompt goes to stderr so that `-o json` output stays clean; with no terminal and
    no input (EOF) the answer is no.
    """
    if yes:
        return
    err = render.console(stderr=True)
    err.print(Text(warning, style="yellow"))
    try:
        accepted = typer.confirm(f"{answer}?", default=False, err=True)
    except typer.Abort:
        accepted = False
    if not accepted:
        raise DeclinedError(
            "Not confirmed; nothing was changed.", hint="Pass --yes to skip the confirmation."
        )
