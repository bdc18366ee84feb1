"""One AMI message (event, response or action) as an ordered, case-insensitive header list."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class AmiMessage:
    """An AMI message: ordered headers, a key may repeat (e.g. ``ChanVariable``)."""

    headers: tuple[tuple[str, str], ...]
    # Exact-case index: Asterisk spells every key the same way, so lookups hit it; a miss falls
    # back to a case-insensitive scan. Reversed, so the first of a repeated key wins.
    _exact: dict[str, str] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_exact", dict(reversed(self.headers)))

    @classmethod
    def of(cls, fields: Mapping[str, str | list[str]] | Iterable[tuple[str, str]]) -> AmiMessage:
        """Build a message from a mapping (list values become repeated headers) or pairs."""
        if isinstance(fields, Mapping):
            pairs: list[tuple[str, str]] = []
            for key, value in fields.items():
                if isinstance(value, list):
                    pairs.extend((key, str(v)) for v in value)
                else:
                    pairs.append((key, str(value)))
            return cls(tuple(pairs))
        return cls(tuple(fields))

    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of ``key`` (case-insensitive), or ``default`` when absent."""
        value = self._exact.get(key)
        if value is not None:
            return value
        # A miss is common (optional headers): scan rather than build a folded index.
        wanted = key.lower()
        for name, candidate in self.headers:
            if name.lower() == wanted:
                return candidate
        return default

    def get_exact(self, key: str) -> str | None:
        """The first value of ``key`` spelled as Asterisk spells it (a fast path, no folding)."""
        return self._exact.get(key)

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.headers)

    def getall(self, key: str) -> list[str]:
        """Every value of a repeated header, in wire order."""
        wanted = key.lower()
        return [v for k, v in self.headers if k.lower() == wanted]

    @property
    def event(self) -> str | None:
        """The event name, or None for responses and actions."""
        return self.get("Event")

    @property
    def response(self) -> str | None:
        """``Success``/``Error``/``Follows``/``Goodbye`` for responses, else None."""
        return self.get("Response")

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    def as_dict(self) -> dict[str, str | list[str]]:
        """Headers as a dict; a repeated key becomes a list (as in the .timed.jsonl files)."""
        out: dict[str, str | list[str]] = {}
        for key, value in self.headers:
            if key in out:
                prev = out[key]
                out[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
            else:
                out[key] = value
        return out
