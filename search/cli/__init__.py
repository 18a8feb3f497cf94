"""The `fmnist-search` command line (Typer): each command parses its options and calls one function."""

from search.cli.app import app, main

__all__ = ["app", "main"]
