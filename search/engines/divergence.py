"""A trial whose training loss stops being a number: stopped after that batch, quietly, and marked as diverged.

Keras's own ``TerminateOnNaN`` does the stopping but prints to stdout, which breaks a log of JSON
lines, and leaves the trial to end as if it had finished: its value is whatever the diverged
weights score (chance, 10 %). Here the epoch that diverged is remembered and the trial ends
pruned, never a best, with the ``diverged`` attribute saying why (the dashboard shows it). Pruned,
not failed: it is an outcome of its params, like a poor score, so it takes its place in the
budget and tells the sampler that region is bad, where a failed trial would be run again.
"""

from __future__ import annotations

import math
from typing import Any

DIVERGED_ATTR = "diverged"


def diverged_in(logs: dict[str, Any] | None) -> bool:
    """Whether a batch's Keras logs show a loss that is not a finite number."""
    loss = (logs or {}).get("loss")
    return loss is not None and not math.isfinite(float(loss))


def divergence_message(epoch: int) -> str:
    return f"the training loss became NaN or infinite in epoch {epoch} (a learning rate too high?)"
