"""The one error a search space raises: a key, a range or a file that cannot make a space.

It lives here, under spaces/, because spaces/ imports nothing from search/; ``search.errors``
re-exports it, and ``search.errors.USER_ERRORS`` puts it among the errors the CLI prints in one line.
"""

from __future__ import annotations


class SpaceError(ValueError):
    """A search space (or the seed catalog) is malformed or impossible; the message names the key."""
