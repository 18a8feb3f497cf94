"""The storage layer's error: the store cannot be reached, opened or used."""


class StorageError(RuntimeError):
    """The store cannot be reached, opened or used; the message says which and why."""
