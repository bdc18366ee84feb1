"""Capped exponential backoff with full jitter for reconnecting."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Delays ``min_s * 2**n`` capped at ``max_s``, each drawn uniformly from its upper half."""

    def __init__(
        self, min_s: float, max_s: float, rng: Callable[[], float] = random.random
    ) -> None:
        self.min_s = min_s
        self.max_s = max(max_s, min_s)
        self._rng = rng
        self.attempt = 0

    def next(self) -> float:
        """The delay before the next attempt; grows until :meth:`reset`."""
        ceiling = min(self.max_s, self.min_s * (2.0 ** min(self.attempt, 30)))
        self.attempt += 1
        # Half fixed, half random: never hammer the PBX, never synchronise many clients.
        return ceiling / 2 + self._rng() * ceiling / 2

    def reset(self) -> None:
        self.attempt = 0
