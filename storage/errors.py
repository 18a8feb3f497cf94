"""The one error the store raises: it cannot be reached, opened or used.

It lives here, under storage/, because storage/ imports nothing from search/; ``search.errors``
re-exports it, and ``search.errors.USER_ERRORS`` puts it among the errors the CLI prints in one line.
"""

from __future__ import annotations


class StorageError(RuntimeError):
    """The store cannot be reached, opened or used; the message says which and why."""
