"""The one signal a trial sends its worker when the run's time is up."""


class DeadlineReached(RuntimeError):
    """The run's --timeout ended in the middle of a trial: it stops unfinished and is re-queued."""
