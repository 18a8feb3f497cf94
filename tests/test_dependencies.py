"""Every runtime dependency is documented in the README, and the README documents nothing undeclared."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def test_readme_says_what_each_dependency_is_for() -> None:
    declared = {
        Requirement(text).name
        for text in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    section = (ROOT / "README.md").read_text().split("## Dependencies", 1)[1].split("\n## ", 1)[0]
    documented = {
        name for row in re.findall(r"^\| (`.+?`) \|", section, flags=re.M) for name in re.findall(r"`([\w.-]+)`", row)
    }
    assert documented == declared


def test_optuna_integration_is_neither_declared_nor_imported() -> None:
    assert "optuna-integration" not in (ROOT / "pyproject.toml").read_text()
    for folder in ("search", "spaces", "storage", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            assert "optuna_integration" not in path.read_text(), path
