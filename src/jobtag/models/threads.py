"""How many intra-op threads torch uses while jobtag trains or scores, restored afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run with `n` intra-op torch threads; the caller's setting is restored on any exit.

    With OpenMP the setting belongs to the calling thread, so this is safe to use from several
    threads at once. jobtag's default is 1 (`TrainSettings.threads`): on a shared 2-core machine
    a second thread made training 5-10x slower, and scoring a small batch (one job in the CLI,
    the API or the service) spends longer waking a second thread than computing.
    """
    before = torch.get_num_threads()
    n = max(1, n)
    if n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
