"""Running the CLI in-process, and what a user-facing error must look like."""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner

from search.cli.app import app

runner = CliRunner()


def invoke(*args: str) -> Any:
    """``fmnist-search ARGS`` in this process; an unexpected exception fails the test with its traceback."""
    return runner.invoke(app, list(args), catch_exceptions=False)


def assert_one_line_error(result: Any, *fragments: str) -> None:
    """Exit 1 and exactly one ``error:`` line on stderr holding every fragment; never a traceback."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
