"""docs/architecture.md stays true: its module table lists every module of the package."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "operator" / "jupyter_containers"
DOC = REPO / "docs" / "architecture.md"
ROW = re.compile(r"^\| `([\w/]+\.py)` \| [^|]+ \| (yes|no) \|$", re.MULTILINE)


def _modules() -> set[str]:
    return {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")}


def _listed() -> dict[str, str]:
    return dict(ROW.findall(DOC.read_text()))


def test_every_module_is_in_the_table_and_every_row_is_a_module() -> None:
    modules, listed = _modules(), set(_listed())
    assert len(modules) > 20, "the package moved: update PACKAGE"
    assert sorted(modules - listed) == [], "add these modules to docs/architecture.md"
    assert sorted(listed - modules) == [], "docs/architecture.md lists modules that do not exist"


def test_the_core_is_pure_and_the_shell_is_not() -> None:
    listed = _listed()
    assert {m for m, pure in listed.items() if m.startswith("core/") and pure != "yes"} == set()
    assert {m for m, pure in listed.items() if m.startswith("shell/") and pure != "no"} == set()


def test_the_core_imports_no_io() -> None:
    """Pure by construction: no core module imports kopf, lightkube or the shell."""
    forbidden = re.compile(
        r"^\s*(from|import) (kopf|lightkube\.(?!utils\.quantity)|httpx|"
        r"jupyter_containers\.shell)",
        re.MULTILINE,
    )
    offenders = [p.name for p in (PACKAGE / "core").glob("*.py") if forbidden.search(p.read_text())]
    assert offenders == []


def test_no_two_modules_of_one_name_in_the_package() -> None:
    names = [p.stem for p in PACKAGE.rglob("*.py") if p.stem != "__init__"]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []
