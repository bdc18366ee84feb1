"""The clock cores are given, so tests decide what "now" is."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

Clock = Callable[[], dt.datetime]
"""Returns the current time, timezone-aware, in UTC."""
