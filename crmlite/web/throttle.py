"""Login throttling: too many wrong passwords for one login from one address answer 429 for a while.

Kept in memory per instance: it slows password guessing down; it is not an account lockout.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable

DEFAULT_MAX_FAILURES = 10
DEFAULT_WINDOW_S = 15 * 60.0
# Bounded memory: beyond this many tracked (login, address) pairs the stalest are forgotten.
MAX_TRACKED_KEYS = 10_000


class LoginThrottle:
    """Counts failed logins per key inside a sliding window."""

    def __init__(
        self,
        max_failures: int = DEFAULT_MAX_FAILURES,
        window_s: float = DEFAULT_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, key: str) -> float | None:
        """Seconds until ``key`` may try again, or None when it may try now."""
        failures = self._recent(key)
        if failures is None or len(failures) < self.max_failures:
            return None
        return max(failures[0] + self.window_s - self.clock(), 1.0)

    def failed(self, key: str) -> None:
        failures = self._recent(key)
        if failures is None:
            failures = self._failures[key] = deque(maxlen=self.max_failures)
        failures.append(self.clock())
        self._failures.move_to_end(key)
        while len(self._failures) > MAX_TRACKED_KEYS:
            self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    def _recent(self, key: str) -> deque[float] | None:
        failures = self._failures.get(key)
        if failures is None:
            return None
        horizon = self.clock() - self.window_s
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return None
        return failures
