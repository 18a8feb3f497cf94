"""Layers point down: the import graph of spaces/, storage/ and search/ has no upward arrow.

Every import counts, at any depth (inside a function too): ``spaces/`` and ``storage/`` import
nothing from ``search``; the core of ``search/`` (engines, results, study, data, runtime) imports
neither the UI nor the CLI, which reach it through interfaces and callbacks instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ("search/engines", "search/results", "search/study", "search/data", "search/runtime")
SCREEN = ("search.ui", "search.cli")

# Modules owned by another branch that still import the UI until it lands; remove each at merge.


def imported(path: Path, package: str | None = None) -> set[str]:
    """Every module ``path`` (of ``package``, by default its folder's) imports, absolute, wherever the import stands."""
    if package is None:
        package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def modules(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def reaches(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_the_walker_sees_imports_at_any_depth(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    body = "def f():\n    from search.ui import console\n    import search.cli.app\n    from ..ui import x\n"
    source.write_text(body)
    names = imported(source, "search.engines")
    assert {"search.ui", "search.ui.console", "search.cli.app", "search.ui.x"} <= names


@pytest.mark.parametrize("path", modules("spaces", "storage"), ids=lambda p: str(p.relative_to(ROOT)))
def test_spaces_and_storage_import_nothing_from_search(path: Path) -> None:
    upward = sorted(name for name in imported(path) if reaches(name, "search"))
    assert upward == [], f"{path.relative_to(ROOT)} imports {upward}"


@pytest.mark.parametrize("path", modules(*CORE), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_never_imports_the_ui_or_the_cli(path: Path) -> None:
    upward = sorted(name for name in imported(path) if any(reaches(name, package) for package in SCREEN))
    assert upward == [], f"{path.relative_to(ROOT)} imports {upward}"
