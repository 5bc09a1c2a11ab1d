"""The kubectl plugin `kubectl jupyter` (console script `kubectl-jupyter`)."""

from __future__ import annotations


def main() -> int:
    # Imported here so that `import jupyter_containers.cli.selection` (tests, completion)
    # does not build the whole command tree.
    from jupyter_containers.cli.app import main as run

    return run()


__all__ = ["main"]
