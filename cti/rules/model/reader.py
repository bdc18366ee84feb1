"""Reading a rule document: collect every problem with its path instead of stopping at one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from cti.rules.model.types import Problem


class Reader:
    """Collects problems while reading; raises them all at the end."""

    def __init__(self, normalize_number: Callable[[str], str]) -> None:
        self.problems: list[Problem] = []
        self.normalize_number = normalize_number

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def table(self, value: object, path: str, allowed: set[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(path, "must be a table")
            return {}
        for key in sorted(set(value) - allowed):
            self.fail(f"{path}.{key}" if path else key, "unknown key")
        return cast(Mapping[str, Any], value)

    def strings(self, value: object, path: str) -> tuple[str, ...]:
        """A string or a list of strings."""
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            self.fail(path, "must be a non-empty string or a list of them")
            return ()
        return tuple(cast(list[str], items))

    def choice(self, value: object, path: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
        items = self.strings(value, path)
        for item in items:
            if item not in allowed:
                self.fail(path, f"{item!r} is not one of {', '.join(allowed)}")
        return items

    def boolean(self, value: object, path: str) -> bool:
        if not isinstance(value, bool):
            self.fail(path, "must be true or false")
            return False
        return value
